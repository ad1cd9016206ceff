/**
 * When the environment fails (issue 9): a full file system, too few file descriptors, an I/O
 * error, a directory or blob this user may not read, JSON nested to exhaust a stack, hostile
 * bytes in tags and media types. Each case runs the bundled CLI and asserts the exact code
 * (read from the `--json` error document), that nothing is left where it wrote (no output, no
 * `.ocikit-tmp-*`, no created parent), that messages stay short and free of raw control
 * characters, and that OCIKIT_INTERNAL (which only means a bug) never appears.
 *
 * Mounts (tmpfs, a bind mount over a blob) need root, setpriv runs as uid 65534: under CI=true
 * a missing prerequisite fails (test/helpers/tools.ts).
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { BUNDLE } from './helpers/cli.js';
import { LayoutBuilder, OCI_MANIFEST, tagged } from './helpers/layout-builder.js';
import {
  manyBlobLayout,
  runBundle,
  tempSiblings,
  type RunOptions,
  type RunResult,
} from './helpers/outputs.js';
import { AS_NOBODY, mustRun, requireTool, runTool } from './helpers/tools.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

interface ErrorDoc {
  code: string;
  message: string;
  hint: string;
}

function errorDoc(r: RunResult): ErrorDoc | undefined {
  try {
    return (JSON.parse(r.stdout) as { error?: ErrorDoc }).error;
  } catch {
    return undefined;
  }
}

/** The run failed with `code` (exit 1, --json error document), a short clean message, no INTERNAL. */
function failsWith(t: Test, r: RunResult, code: string, what: string, maxMessage = 500): void {
  const doc = errorDoc(r);
  t.equal(r.code, 1, `${what}: exit 1`, { stderr: r.stderr.slice(0, 2000) });
  t.equal(doc?.code, code, `${what}: ${code}`, {
    message: doc?.message,
    stderr: r.stderr.slice(0, 2000),
  });
  noInternal(t, r, what);
  if (doc !== undefined) cleanText(t, doc, what, maxMessage);
}

function noInternal(t: Test, r: RunResult, what: string): void {
  t.notMatch(r.stdout + r.stderr, /OCIKIT_INTERNAL/, `${what}: no OCIKIT_INTERNAL`);
  t.notMatch(r.stderr, /\n\s+at .+:\d+:\d+\)?\n/, `${what}: no stack trace`);
}

function cleanText(
  t: Test,
  doc: { message: string; hint?: string },
  what: string,
  max: number,
): void {
  t.ok(
    doc.message.length <= max,
    `${what}: message of ${doc.message.length} <= ${max} characters`,
    {
      message: doc.message.slice(0, 600),
    },
  );
  t.notMatch(doc.message, CONTROL, `${what}: no raw control character in the message`);
  if (doc.hint !== undefined) {
    t.ok(doc.hint.length <= 400, `${what}: hint of ${doc.hint.length} <= 400 characters`);
    t.notMatch(doc.hint, CONTROL, `${what}: no raw control character in the hint`);
  }
}

/** Nothing under `dir` but what `expected` names: no output, no temporary sibling, no parent. */
function nothingLeft(t: Test, dir: string, what: string, expected: string[] = []): void {
  t.same(
    readdirSync(dir).sort(),
    [...expected].sort(),
    `${what}: nothing left in ${path.basename(dir)}`,
  );
  t.same(tempSiblings(dir), [], `${what}: no temporary sibling`);
}

// --- mounts -----------------------------------------------------------------------------------

const mounted = new Set<string>();
process.once('exit', () => {
  for (const mp of [...mounted].reverse()) runTool('umount', ['-l', mp]);
});

/** A private directory outside the repository (mounts are never shared), removed at teardown. */
function privateDir(t: Test, name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `ocikit-env-${name}-`));
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function mount(t: Test, args: string[], mp: string): void {
  mustRun('mount', [...args, mp]);
  mounted.add(mp);
  t.teardown(() => {
    if (runTool('umount', [mp]).code !== 0) runTool('umount', ['-l', mp]);
    mounted.delete(mp);
  });
}

function tmpfs(t: Test, mp: string, size: string): void {
  mkdirSync(mp, { recursive: true });
  mount(t, ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs'], mp);
}

// --- fixtures ---------------------------------------------------------------------------------

/** A layout bigger than the 1 MiB file system (2 MiB in one blob), its archive, a context. */
async function bigInputs(dir: string): Promise<{ layout: string; archive: string }> {
  const layout = path.join(dir, 'layout');
  manyBlobLayout(layout, 20, 2 << 20);
  const archive = path.join(dir, 'layout.tar');
  const r = await runBundle(['pack', layout, '--out', archive]);
  if (r.code !== 0) throw new Error(`fixture pack failed: ${r.stderr}`);
  return { layout, archive };
}

// --- ENOSPC -----------------------------------------------------------------------------------

t.test('ENOSPC: writing to a full file system is OCIKIT_NO_SPACE, nothing left', async (t) => {
  if (!requireTool(t, 'bind-mount')) return;
  const dir = privateDir(t, 'nospace');
  const { layout, archive } = await bigInputs(dir);
  const full = path.join(dir, 'full');
  tmpfs(t, full, '1m');
  const cases: [string, string[]][] = [
    ['index', ['index', '--out', path.join(full, 'a/b/merged'), `${layout}:latest`]],
    ['unpack', ['unpack', archive, '--out', path.join(full, 'a/b/unpacked')]],
    ['pack', ['pack', layout, '--out', path.join(full, 'a/b/image.tar')]],
    [
      'pack --gzip',
      ['pack', layout, '--gzip', '--gzip-level', '1', '--out', path.join(full, 'a/b/image.tgz')],
    ],
    [
      'context (archive unpacked)',
      [
        'context',
        '--buildx-version',
        '0.13.1',
        `base=${archive}:latest`,
        '--out',
        path.join(full, 'a/b/ctx'),
      ],
    ],
  ];
  for (const [what, args] of cases) {
    const r = await runBundle(['--json', ...args]);
    failsWith(t, r, 'OCIKIT_NO_SPACE', what);
    nothingLeft(t, full, what);
  }
});

// --- EMFILE -----------------------------------------------------------------------------------

const ulimit = (n: number): string[] => ['bash', '-c', `ulimit -n ${n} && exec "$@"`, 'bash'];

let smallestLimit: number | undefined;
/** The smallest `ulimit -n` at which node loads the bundle and prints its version. */
async function nodeStartsAt(): Promise<number | undefined> {
  if (smallestLimit !== undefined) return smallestLimit;
  for (let n = 8; n <= 64; n++) {
    if ((await runBundle(['--version'], { prefix: ulimit(n) })).code === 0) {
      smallestLimit = n;
      return n;
    }
  }
  return undefined;
}

/**
 * From the smallest limit at which node starts, up: every run fails with
 * OCIKIT_TOO_MANY_OPEN_FILES and leaves nothing, until one has enough descriptors and succeeds.
 */
async function climbLimits(
  t: Test,
  what: string,
  args: string[],
  outDir: string,
  out?: string,
): Promise<void> {
  const start = await nodeStartsAt();
  if (start === undefined) {
    t.fail('node does not start with any ulimit -n up to 64');
    return;
  }
  t.comment(`node starts at ulimit -n ${start}`);
  const failedAt: number[] = [];
  let succeededAt: number | undefined;
  for (let n = start; n < start + 48 && succeededAt === undefined; n++) {
    const r = await runBundle(['--json', ...args], { prefix: ulimit(n) });
    if (r.code === 0) {
      succeededAt = n;
      break;
    }
    failsWith(t, r, 'OCIKIT_TOO_MANY_OPEN_FILES', `${what} at ulimit -n ${n}`);
    t.comment(`ulimit -n ${n}: ${errorDoc(r)?.message ?? r.stderr.slice(0, 200)}`);
    nothingLeft(t, outDir, `${what} at ulimit -n ${n}`);
    failedAt.push(n);
  }
  t.comment(
    `${what}: OCIKIT_TOO_MANY_OPEN_FILES at ${failedAt.join(', ')}; succeeded at ${succeededAt}`,
  );
  t.ok(failedAt.length > 0, `${what}: fails for lack of descriptors at some limit`);
  t.not(succeededAt, undefined, `${what}: succeeds once the limit is high enough`);
  if (out !== undefined) t.ok(existsSync(out), `${what}: the successful run wrote its output`);
}

t.test(
  'ulimit -n: unpack and verify are OCIKIT_TOO_MANY_OPEN_FILES until they have enough',
  async (t) => {
    const dir = privateDir(t, 'emfile-unpack');
    // A blob of 8 MiB or more is extracted (and hashed) on worker threads, which need descriptors.
    const layout = path.join(dir, 'layout');
    manyBlobLayout(layout, 20, 9 << 20);
    const archive = path.join(dir, 'layout.tar');
    const packed = await runBundle(['pack', layout, '--out', archive]);
    t.equal(packed.code, 0, packed.stderr);
    const outDir = path.join(dir, 'out');
    mkdirSync(outDir);
    const out = path.join(outDir, 'a/unpacked');
    await climbLimits(t, 'unpack', ['unpack', archive, '--out', out], outDir, out);
    // A worker that cannot start was an unhandled rejection: a stack trace and no JSON.
    mkdirSync(path.join(dir, 'nothing'));
    await climbLimits(t, 'verify', ['verify', layout], path.join(dir, 'nothing'));
  },
);

t.test('ulimit -n: index copying across file systems is OCIKIT_TOO_MANY_OPEN_FILES', async (t) => {
  if (!requireTool(t, 'bind-mount')) return;
  const dir = privateDir(t, 'emfile-index');
  const layout = path.join(dir, 'layout');
  manyBlobLayout(layout, 200, 1 << 20);
  // Another file system: blobs cannot be hardlinked, 8 copies run at once.
  const outDir = path.join(dir, 'other-fs');
  tmpfs(t, outDir, '64m');
  const out = path.join(outDir, 'a/merged');
  await climbLimits(t, 'index', ['index', '--out', out, `${layout}:latest`], outDir, out);
});

// --- EIO --------------------------------------------------------------------------------------

t.test('EIO: index.json a symlink to /proc/self/mem is OCIKIT_IO_ERROR naming it', async (t) => {
  const dir = privateDir(t, 'eio-index');
  const layout = path.join(dir, 'layout');
  manyBlobLayout(layout, 2);
  unlinkSync(path.join(layout, 'index.json'));
  // Opened by the reading process itself: reading its own memory at offset 0 is EIO.
  symlinkSync('/proc/self/mem', path.join(layout, 'index.json'));
  const out = path.join(dir, 'out');
  mkdirSync(out);
  const cases: [string, string[]][] = [
    ['resolve', ['resolve', layout]],
    ['inspect', ['inspect', layout]],
    ['verify', ['verify', layout]],
    ['pack', ['pack', layout, '--out', path.join(out, 'image.tar')]],
    ['index', ['index', '--out', path.join(out, 'merged'), layout]],
    [
      'context',
      [
        'context',
        '--buildx-version',
        '0.13.1',
        '--mode',
        'thin',
        `base=${layout}`,
        '--out',
        path.join(out, 'ctx'),
      ],
    ],
  ];
  for (const [what, args] of cases) {
    const r = await runBundle(['--json', ...args]);
    failsWith(t, r, 'OCIKIT_IO_ERROR', what);
    t.match(errorDoc(r)?.message, /index\.json.*EIO/, `${what}: names index.json`);
    nothingLeft(t, out, what);
  }
});

/** A layout whose one layer is empty (size 0): the blob a bind mount of /proc/PID/mem can stand in for. */
function emptyLayerLayout(dir: string): string {
  const b = new LayoutBuilder(dir);
  const layer = b.blob(Buffer.alloc(0), 'application/vnd.oci.image.layer.v1.tar');
  b.writeIndex([tagged(b.manifestOver([layer]), 'latest')]);
  return path.join(dir, 'blobs', 'sha256', layer.digest.slice('sha256:'.length));
}

t.test(
  'EIO: a blob that fails to read is named; verify reports it, pack fails coded',
  async (t) => {
    if (!requireTool(t, 'bind-mount')) return;
    const dir = privateDir(t, 'eio-blob');
    const layout = path.join(dir, 'layout');
    const blob = emptyLayerLayout(layout);
    // /proc/PID/mem of a live process (size 0, like the empty blob) over the blob's file: open
    // works, read at offset 0 fails with EIO. The blob is a regular file at the right path.
    const holder = spawn('sleep', ['600'], { stdio: 'ignore' });
    t.teardown(() => void holder.kill('SIGKILL'));
    mount(t, ['--bind', `/proc/${holder.pid}/mem`], blob);
    const out = path.join(dir, 'out');
    mkdirSync(out);

    const v = await runBundle(['--json', 'verify', layout]);
    t.equal(v.code, 1, 'verify: exit 1');
    noInternal(t, v, 'verify');
    const report = JSON.parse(v.stdout) as {
      ok: boolean;
      problems: { code: string; message: string }[];
    };
    t.equal(report.ok, false);
    t.same(
      report.problems.map((p) => p.code),
      ['OCIKIT_BLOB_UNREADABLE'],
      'verify: one problem, the blob, unreadable (the code its documentation gives for I/O errors)',
    );
    t.match(
      report.problems[0]?.message,
      new RegExp(`${path.basename(blob)}.*\\(EIO\\)`),
      'verify: names the blob and EIO',
    );

    const p = await runBundle(['--json', 'pack', layout, '--out', path.join(out, 'image.tar')]);
    failsWith(t, p, 'OCIKIT_IO_ERROR', 'pack');
    t.match(
      errorDoc(p)?.message,
      new RegExp(`reading .*${path.basename(blob)}`),
      'pack: an input error, naming the blob',
    );
    nothingLeft(t, out, 'pack');
  },
);

t.test('a blob that is a symlink to /proc/self/mem is refused before it is read', async (t) => {
  const dir = privateDir(t, 'proc-symlink');
  const layout = path.join(dir, 'layout');
  const blob = emptyLayerLayout(layout);
  unlinkSync(blob);
  symlinkSync('/proc/self/mem', blob);
  const out = path.join(dir, 'out');
  mkdirSync(out);
  const v = await runBundle(['--json', 'verify', layout]);
  t.equal(v.code, 1);
  noInternal(t, v, 'verify');
  t.same(
    (JSON.parse(v.stdout) as { problems: { code: string }[] }).problems.map((p) => p.code),
    ['OCIKIT_BLOB_SYMLINK_ESCAPES'],
    'verify: a symlink out of the layout that is not a copy of the blob',
  );
  const p = await runBundle(['--json', 'pack', layout, '--out', path.join(out, 'image.tar')]);
  failsWith(t, p, 'OCIKIT_BLOB_SYMLINK_ESCAPES', 'pack');
  nothingLeft(t, out, 'pack');
});

// --- permissions (as uid 65534) ---------------------------------------------------------------

/** A world-readable copy of the bundle and a run of it as uid 65534. */
function asNobody(dir: string): (args: string[]) => Promise<RunResult> {
  const bundle = path.join(dir, 'ocikit.cjs');
  copyFileSync(BUNDLE, bundle);
  chmodSync(bundle, 0o644);
  const options: RunOptions = { prefix: AS_NOBODY, cwd: '/' };
  return (args) => runBundle(['--json', ...args], { ...options, bundle });
}

t.test('a 0700 layout read as uid 65534 is OCIKIT_LAYOUT_UNREADABLE', async (t) => {
  if (!requireTool(t, 'setpriv')) return;
  const dir = privateDir(t, 'perm-layout');
  const run = asNobody(dir);
  const layout = path.join(dir, 'closed');
  manyBlobLayout(layout, 2);
  chmodSync(layout, 0o700);
  const out = path.join(dir, 'out');
  mkdirSync(out);
  chmodSync(out, 0o777);
  const cases: [string, string[]][] = [
    ['resolve', ['resolve', layout]],
    ['inspect', ['inspect', layout]],
    ['verify', ['verify', layout]],
    [
      'context',
      [
        'context',
        '--buildx-version',
        '0.13.1',
        '--mode',
        'thin',
        `base=${layout}:latest`,
        '--out',
        path.join(out, 'ctx'),
      ],
    ],
    ['pack', ['pack', layout, '--out', path.join(out, 'image.tar')]],
    ['index', ['index', '--out', path.join(out, 'merged'), `${layout}:latest`]],
  ];
  for (const [what, args] of cases) {
    const r = await run(args);
    failsWith(t, r, 'OCIKIT_LAYOUT_UNREADABLE', what);
    nothingLeft(t, out, what);
  }
});

t.test(
  'pack of a blob this user cannot read is OCIKIT_BLOB_UNREADABLE, not an output error',
  async (t) => {
    if (!requireTool(t, 'setpriv')) return;
    const dir = privateDir(t, 'perm-blob');
    const run = asNobody(dir);
    const layout = path.join(dir, 'layout');
    const { manifest } = manyBlobLayout(layout, 3);
    const m = JSON.parse(
      readFileSync(path.join(layout, 'blobs/sha256', manifest.digest.slice(7)), 'utf8'),
    ) as { layers: { digest: string }[] };
    const secret = path.join(layout, 'blobs/sha256', (m.layers[1]?.digest ?? '').slice(7));
    chmodSync(secret, 0o600);
    const out = path.join(dir, 'out');
    mkdirSync(out);
    chmodSync(out, 0o777);
    for (const gzip of [[], ['--gzip']]) {
      const what = `pack ${gzip.join(' ')}`.trim();
      const r = await run(['pack', layout, ...gzip, '--out', path.join(out, 'image.tar')]);
      failsWith(t, r, 'OCIKIT_BLOB_UNREADABLE', what);
      t.match(errorDoc(r)?.message, path.basename(secret), `${what}: names the blob`);
      nothingLeft(t, out, what);
    }
    const v = await run(['verify', layout]);
    t.equal(v.code, 1);
    noInternal(t, v, 'verify');
    t.same(
      (JSON.parse(v.stdout) as { problems: { code: string }[] }).problems.map((p) => p.code),
      ['OCIKIT_BLOB_UNREADABLE'],
      'verify: that blob, unreadable',
    );
  },
);

// --- hostile JSON -----------------------------------------------------------------------------

t.test(
  'index.json whose schemaVersion is 10,000 nested arrays is OCIKIT_JSON_TOO_DEEP',
  async (t) => {
    const dir = privateDir(t, 'deep');
    const layout = path.join(dir, 'layout');
    manyBlobLayout(layout, 2);
    const n = 10_000;
    writeFileSync(
      path.join(layout, 'index.json'),
      `{"schemaVersion":${'['.repeat(n)}${']'.repeat(n)},"manifests":[]}`,
    );
    const out = path.join(dir, 'out');
    mkdirSync(out);
    const cases: [string, string[]][] = [
      ['resolve', ['resolve', layout]],
      ['inspect', ['inspect', layout]],
      ['verify', ['verify', layout]],
      ['pack', ['pack', layout, '--out', path.join(out, 'image.tar')]],
      ['index', ['index', '--out', path.join(out, 'merged'), layout]],
      [
        'context',
        [
          'context',
          '--buildx-version',
          '0.13.1',
          '--mode',
          'thin',
          `base=${layout}`,
          '--out',
          path.join(out, 'ctx'),
        ],
      ],
    ];
    for (const [what, args] of cases) {
      const r = await runBundle(['--json', ...args]);
      failsWith(t, r, 'OCIKIT_JSON_TOO_DEEP', what, 200);
      nothingLeft(t, out, what);
    }
  },
);

t.test('a manifest nested too deep is a problem of that blob', async (t) => {
  const dir = privateDir(t, 'deep-manifest');
  const b = new LayoutBuilder(path.join(dir, 'layout'));
  const deep = b.blob(
    `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","annotations":${'{"a":'.repeat(100)}"x"${'}'.repeat(100)}}`,
    OCI_MANIFEST,
  );
  b.writeIndex([tagged(deep, 'latest')]);
  const v = await runBundle(['--json', 'verify', path.join(dir, 'layout')]);
  t.equal(v.code, 1);
  noInternal(t, v, 'verify');
  t.same(
    (JSON.parse(v.stdout) as { problems: { code: string }[] }).problems.map((p) => p.code),
    ['OCIKIT_JSON_TOO_DEEP'],
  );
  const r = await runBundle([
    '--json',
    'resolve',
    path.join(dir, 'layout'),
    '--platform',
    'linux/amd64',
  ]);
  failsWith(t, r, 'OCIKIT_JSON_TOO_DEEP', 'resolve --platform');
});

const EVIL = `evil\n\u001b[31mred\u0000\u0007\r\u2028${'A'.repeat(5000)}\r\nend`;

t.test(
  'hostile bytes in tags, annotations and media types: short messages, no raw controls',
  async (t) => {
    const dir = privateDir(t, 'hostile');
    // Two images tagged with newlines, escapes, NUL, BEL and 5,000 characters, one layer missing.
    const layout = path.join(dir, 'layout');
    const b = new LayoutBuilder(layout);
    const one = b.image({
      platform: { os: 'linux', architecture: 'amd64' },
      layers: [{ 'a.txt': 'a\n' }],
      annotations: { 'x.evil': EVIL },
    });
    // A platform holding the same bytes, and a layer of it missing too.
    const two = b.image({
      platform: { os: 'linux', architecture: `arm64${EVIL}` },
      layers: [{ 'b.txt': 'b\n' }],
    });
    b.writeIndex([
      {
        ...tagged(one, EVIL),
        annotations: { 'org.opencontainers.image.ref.name': EVIL, 'x.evil': EVIL },
      },
      tagged(two, `${EVIL}2`),
    ]);
    const manifest = JSON.parse(
      readFileSync(path.join(layout, 'blobs/sha256', one.digest.slice(7)), 'utf8'),
    ) as {
      layers: { digest: string }[];
    };
    unlinkSync(path.join(layout, 'blobs/sha256', (manifest.layers[0]?.digest ?? '').slice(7)));
    const manifest2 = JSON.parse(
      readFileSync(path.join(layout, 'blobs/sha256', two.digest.slice(7)), 'utf8'),
    ) as { layers: { digest: string }[] };
    unlinkSync(path.join(layout, 'blobs/sha256', (manifest2.layers[0]?.digest ?? '').slice(7)));

    const notFound = await runBundle(['--json', 'resolve', layout, '--tag', 'nope']);
    failsWith(
      t,
      notFound,
      'OCIKIT_TAG_NOT_FOUND',
      'resolve --tag nope (hostile tags listed in the hint)',
      200,
    );

    const evilArg = await runBundle([
      '--json',
      'resolve',
      layout,
      '--tag',
      `x\n\u001b]0;title\u0007${'Z'.repeat(3000)}`,
    ]);
    failsWith(
      t,
      evilArg,
      'OCIKIT_TAG_NOT_FOUND',
      'resolve --tag <control characters, 3,000 bytes>',
      400,
    );

    const v = await runBundle(['--json', 'verify', layout]);
    t.equal(v.code, 1);
    noInternal(t, v, 'verify');
    const problems = (JSON.parse(v.stdout) as { problems: { code: string; message: string }[] })
      .problems;
    t.same(
      problems.map((p) => p.code),
      ['OCIKIT_BLOB_MISSING', 'OCIKIT_BLOB_MISSING'],
    );
    // Three digests, a path and the references (tags and platforms cut at 60 characters).
    for (const p of problems) cleanText(t, p, 'verify problem', 800);

    // The same runs without --json: every stderr line printable.
    for (const args of [
      ['resolve', layout, '--tag', 'nope'],
      ['verify', layout],
    ]) {
      const r = await runBundle(args);
      t.notMatch(
        r.stderr,
        CONTROL_BUT_NEWLINE,
        `${args[0]}: stderr holds no raw control character`,
      );
      t.ok(r.stderr.length < 3000, `${args[0]}: stderr of ${r.stderr.length} characters`);
    }

    // A media type and a schemaVersion holding the same bytes.
    const bad = path.join(dir, 'bad');
    const bb = new LayoutBuilder(bad);
    const img = bb.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
    bb.writeIndex([{ ...img, mediaType: `application/${EVIL}` }]);
    failsWith(
      t,
      await runBundle(['--json', 'resolve', bad]),
      'OCIKIT_SCHEMA_INVALID',
      'a hostile mediaType',
      400,
    );
    bb.writeIndex([], { raw: { schemaVersion: EVIL, manifests: [] } });
    failsWith(
      t,
      await runBundle(['--json', 'resolve', bad]),
      'OCIKIT_SCHEMA_INVALID',
      'a hostile schemaVersion',
      400,
    );
  },
);
