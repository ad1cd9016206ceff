/**
 * "Never writes to the input": every command (resolve, inspect, verify; text and --json; with
 * --tag, --platform, --digest; successes and errors) is run by the BUNDLED CLI against
 *  1. a read-only bind mount, as root (root ignores file modes, so only the mount stops writes);
 *  2. a 0555/0444 tree, as uid 65534 (setpriv);
 *  3. a plain writable tree, as root, with no mount or uid tricks at all: here any write would
 *     succeed, so the tree (listing, modes, mtimes, sizes, hashes, and atimes) must come out
 *     identical, inotify must report nothing, and no lock/ingest/temp file may appear.
 * Each on a layout from our LayoutBuilder (including a blob big enough for the hashing worker
 * threads) and one made by umoci.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os, { availableParallelism } from 'node:os';
import path from 'node:path';
import { BUNDLE, bundled, type CliResult, type Runner } from './helpers/cli.js';
import { LayoutBuilder, standardLayout, tagged } from './helpers/layout-builder.js';
import { Mounts, cleanStaleMounts, mountsInOurTestdirs, ourMountPoints } from './helpers/mounts.js';
import {
  AS_NOBODY,
  NOBODY,
  mustRun,
  prerequisiteProblem,
  privateTestdir,
  requireTool,
  runTool,
} from './helpers/tools.js';
import { UNCHANGED, observe, snapshotTree, walkTree } from './helpers/tree.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const TMP_PREFIX = 'ocikit-readonly-';

// Mounts left by a killed earlier run are unmounted before any testdir is touched.
cleanStaleMounts((m) => t.comment(m));

// ---------------------------------------------------------------------------------------------
// What a layout holds, read independently of ocikit (plain JSON.parse of the files).

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

interface ExpectedManifest {
  digest: string;
  platform: string;
  layers: number;
}

interface ExpectedImage {
  tag: string;
  digest: string;
  kind: 'index' | 'manifest';
  manifests: ExpectedManifest[];
}

interface Expected {
  images: ExpectedImage[];
  /** Digests referenced only from inside indexes. */
  nested: string[];
  /** Distinct reachable blobs and their declared bytes (what verify reports). */
  blobs: number;
  bytes: number;
}

const isIndex = (mt: string): boolean =>
  mt.endsWith('image.index.v1+json') || mt.endsWith('manifest.list.v2+json');

function formatPlatform(p: { os: string; architecture: string; variant?: string }): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

function describeLayout(dir: string): Expected {
  const json = (rel: string): Record<string, unknown> =>
    JSON.parse(readFileSync(path.join(dir, rel), 'utf8')) as Record<string, unknown>;
  const blob = (digest: string): Record<string, unknown> =>
    json(path.join('blobs', ...digest.split(':')));
  const blobs = new Map<string, number>();
  const nested: string[] = [];
  const walk = (d: Desc, top: boolean, out: ExpectedManifest[]): void => {
    blobs.set(d.digest, d.size);
    if (!top && !nested.includes(d.digest)) nested.push(d.digest);
    const doc = blob(d.digest);
    if (isIndex(d.mediaType)) {
      for (const child of doc['manifests'] as Desc[]) walk(child, false, out);
      return;
    }
    const config = doc['config'] as Desc;
    const layers = doc['layers'] as Desc[];
    for (const x of [config, ...layers]) blobs.set(x.digest, x.size);
    const platform =
      d.platform ??
      (blob(config.digest) as unknown as { os: string; architecture: string; variant?: string });
    out.push({ digest: d.digest, platform: formatPlatform(platform), layers: layers.length });
  };
  const images = (json('index.json')['manifests'] as Desc[]).map((d) => {
    const manifests: ExpectedManifest[] = [];
    walk(d, true, manifests);
    const tag = d.annotations?.['org.opencontainers.image.ref.name'];
    if (tag === undefined) throw new Error(`${dir}: test layouts tag every index.json entry`);
    return {
      tag,
      digest: d.digest,
      kind: isIndex(d.mediaType) ? ('index' as const) : ('manifest' as const),
      manifests,
    };
  });
  return {
    images,
    nested,
    blobs: blobs.size,
    bytes: [...blobs.values()].reduce((a, b) => a + b, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Layouts.

/** Deterministic incompressible bytes. */
function noise(n: number, seed: string): Buffer {
  const c = createCipheriv(
    'aes-256-ctr',
    createHash('sha256').update(seed).digest(),
    Buffer.alloc(16),
  );
  return Buffer.concat([c.update(Buffer.alloc(n)), c.final()]);
}

/** standardLayout plus tag `big`: one layer over 8 MiB, so verify hashes it on a worker thread. */
function builderLayout(dir: string): void {
  const s = standardLayout(dir);
  const b = new LayoutBuilder(dir);
  const big = b.image({
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [{ 'big.bin': noise(9 * 1024 * 1024, 'big') }],
    platformOnDescriptor: false,
  });
  b.writeIndex([tagged(s.multi, 'multi'), tagged(s.single, 'single'), tagged(big, 'big')]);
}

/** umoci init, new t1, insert into t1, insert with --tag t2, config --tag t3. */
function umociLayout(dir: string): void {
  const parent = path.dirname(dir);
  const name = path.basename(dir);
  const src = path.join(parent, 'umoci-src');
  mkdirSync(src, { recursive: true });
  writeFileSync(path.join(src, 'hello.txt'), 'hello from umoci\n');
  writeFileSync(path.join(src, 'two.txt'), 'second layer\n');
  const umoci = (...args: string[]): void => void mustRun('umoci', args, { cwd: parent });
  umoci('init', '--layout', name);
  umoci('new', '--image', `${name}:t1`);
  umoci('insert', '--image', `${name}:t1`, path.join(src, 'hello.txt'), '/etc/hello.txt');
  umoci(
    'insert',
    '--image',
    `${name}:t1`,
    '--tag',
    't2',
    path.join(src, 'two.txt'),
    '/opt/two.txt',
  );
  umoci('config', '--image', `${name}:t2`, '--tag', 't3', '--config.env', 'FOO=bar');
}

const LAYOUTS: { name: string; tools: string[]; build: (dir: string) => void }[] = [
  { name: 'LayoutBuilder layout', tools: [], build: builderLayout },
  { name: 'umoci layout', tools: ['umoci'], build: umociLayout },
];

// ---------------------------------------------------------------------------------------------
// The commands and what each must print.

interface Case {
  args: string[];
  code: number;
  check: (t: Test, r: CliResult, what: string) => void;
}

function parseJson(t: Test, r: CliResult, what: string): Record<string, unknown> {
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } catch (e) {
    t.fail(`${what}: stdout is not one JSON document (${(e as Error).message})`, {
      stdout: r.stdout,
      stderr: r.stderr,
    });
    return {};
  }
}

function cases(L: string, exp: Expected): Case[] {
  const out: Case[] = [];
  // Each command line in its text form (unless jsonOnly) and its --json form.
  const resolved = (
    args: string[],
    digest: string,
    extra: { layers?: number; matchedBy?: string } = {},
    jsonOnly = false,
  ): void => {
    if (!jsonOnly)
      out.push({
        args,
        code: 0,
        check: (t, r, w) => t.equal(r.stdout, `${digest}\n`, `${w}: prints the digest, only`),
      });
    out.push({
      args: [...args, '--json'],
      code: 0,
      check: (t, r, w) => {
        const j = parseJson(t, r, w);
        t.equal((j['descriptor'] as Desc | undefined)?.digest, digest, `${w}: descriptor.digest`);
        if (extra.layers !== undefined) t.equal(j['layers'], extra.layers, `${w}: layers`);
        if (extra.matchedBy !== undefined)
          t.equal(j['matchedBy'], extra.matchedBy, `${w}: matchedBy`);
      },
    });
  };
  const verified = (args: string[], roots?: string[], jsonOnly = false): void => {
    if (!jsonOnly)
      out.push({
        args,
        code: 0,
        check: (t, r, w) => t.match(r.stdout, /^ok: \d+ blobs/m, `${w}: ok`),
      });
    out.push({
      args: [...args, '--json'],
      code: 0,
      check: (t, r, w) => {
        const j = parseJson(t, r, w);
        t.equal(j['ok'], true, `${w}: ok`);
        t.same(j['problems'], [], `${w}: no problems`);
        if (roots !== undefined) t.same(j['roots'], roots, `${w}: roots`);
      },
    });
  };
  const failed = (args: string[], code: string, jsonOnly = false): void => {
    if (!jsonOnly)
      out.push({
        args,
        code: 1,
        check: (t, r, w) => t.match(r.stderr, code, `${w}: stderr names ${code}`),
      });
    out.push({
      args: [...args, '--json'],
      code: 1,
      check: (t, r, w) =>
        t.equal(
          (parseJson(t, r, w)['error'] as { code?: string } | undefined)?.code,
          code,
          `${w}: error.code`,
        ),
    });
  };

  for (const img of exp.images) {
    const only = img.kind === 'manifest' ? img.manifests[0] : undefined;
    resolved(
      ['resolve', L, '--tag', img.tag],
      img.digest,
      only !== undefined
        ? { layers: only.layers, matchedBy: 'org.opencontainers.image.ref.name' }
        : {},
    );
    resolved(['resolve', L, '--digest', img.digest], img.digest, { matchedBy: 'digest' });
    verified(['verify', L, '--tag', img.tag], [img.digest]);
    verified(['verify', L, '--digest', img.digest], [img.digest], true);
    for (const m of img.manifests) {
      if (img.manifests.filter((x) => x.platform === m.platform).length !== 1) continue;
      resolved(['resolve', L, '--tag', img.tag, '--platform', m.platform], m.digest, {
        layers: m.layers,
      });
      verified(['verify', L, '--tag', img.tag, '--platform', m.platform], [m.digest], true);
    }
  }
  for (const d of exp.nested)
    resolved(['resolve', L, '--digest', d], d, { matchedBy: 'digest' }, true);
  const [first, second] = exp.images;
  if (first !== undefined && second !== undefined)
    resolved(['resolve', L, '--digest', first.digest, '--tag', second.tag], first.digest);
  if (exp.images.length === 1 && first !== undefined) resolved(['resolve', L], first.digest);
  else failed(['resolve', L], 'OCIKIT_TAG_NOT_FOUND');
  if (first !== undefined)
    failed(
      ['resolve', L, '--tag', first.tag, '--platform', 'plan9/s390x'],
      'OCIKIT_PLATFORM_NOT_FOUND',
    );
  failed(['resolve', L, '--tag', 'no-such-tag'], 'OCIKIT_TAG_NOT_FOUND');
  failed(['resolve', L, '--digest', `sha256:${'0'.repeat(64)}`], 'OCIKIT_DIGEST_NOT_FOUND', true);
  failed(['verify', L, '--tag', 'no-such-tag'], 'OCIKIT_TAG_NOT_FOUND', true);

  out.push({
    args: ['inspect', L],
    code: 0,
    check: (t, r, w) => {
      for (const img of exp.images)
        t.match(
          r.stdout,
          new RegExp(`^${img.tag}\\s+${img.digest.slice(7, 19)}\\s`, 'm'),
          `${w}: row for ${img.tag}`,
        );
    },
  });
  out.push({
    args: ['inspect', L, '--json'],
    code: 0,
    check: (t, r, w) => {
      const j = parseJson(t, r, w) as {
        images?: { tags: string[]; digest: string; manifests: ExpectedManifest[] }[];
      };
      t.same(
        (j.images ?? []).map((i) => ({
          tags: i.tags,
          digest: i.digest,
          manifests: i.manifests.map((m) => ({
            digest: m.digest,
            platform: m.platform,
            layers: m.layers,
          })),
        })),
        exp.images.map((i) => ({ tags: [i.tag], digest: i.digest, manifests: i.manifests })),
        `${w}: tags, digests, platforms, layer counts`,
      );
    },
  });
  out.push({
    args: ['verify', L],
    code: 0,
    check: (t, r, w) =>
      t.match(r.stdout, new RegExp(`^ok: ${exp.blobs} blobs`, 'm'), `${w}: ok, ${exp.blobs} blobs`),
  });
  for (const extra of [[], ['--no-digests'], ['--jobs', '2'], ['--jobs', '0']]) {
    out.push({
      args: ['verify', L, ...extra, '--json'],
      code: 0,
      check: (t, r, w) => {
        const j = parseJson(t, r, w);
        t.same(
          {
            ok: j['ok'],
            blobs: j['blobs'],
            bytes: j['bytes'],
            digests: j['digests'],
            problems: j['problems'],
          },
          {
            ok: true,
            blobs: exp.blobs,
            bytes: exp.bytes,
            digests: !extra.includes('--no-digests'),
            problems: [],
          },
          w,
        );
      },
    });
  }
  return out;
}

/** Run every case (in parallel), then assert in order: exit code (with the output on failure), then the checks. */
async function runCases(t: Test, run: Runner, L: string, exp: Expected): Promise<void> {
  const all = cases(L, exp);
  t.ok(all.length > 30, `${all.length} command lines`);
  const results: CliResult[] = new Array<CliResult>(all.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < all.length; i = next++) results[i] = await run((all[i] as Case).args);
  };
  await Promise.all(Array.from({ length: Math.max(2, availableParallelism()) }, worker));
  all.forEach((c, i) => {
    const r = results[i] as CliResult;
    const what = `ocikit ${c.args.map((a) => (a === L ? 'LAYOUT' : a)).join(' ')}`;
    if (t.equal(r.code, c.code, `${what}: exit ${c.code}`, { stdout: r.stdout, stderr: r.stderr }))
      c.check(t, r, what);
  });
}

// ---------------------------------------------------------------------------------------------
// Checks on the tree.

const LEFTOVER =
  /(^|\/)(index\.json\.lock|ingest|\.fsverity-check[^/]*)$|\.(tmp|lock|partial)$|\.tmp-|~$/;

function checkNoLeftovers(t: Test, root: string, before: string[]): void {
  const paths = (lines: string[]): string[] => lines.map((l) => l.slice(0, l.indexOf(' mode=')));
  const all = paths(snapshotTree(root));
  t.same(all, paths(before), 'the same paths as before');
  t.same(
    all.filter((p) => LEFTOVER.test(p)),
    [],
    'no index.json.lock, ingest/, .fsverity-check-*, lock or temp files',
  );
  t.notOk(existsSync(path.join(root, 'index.json.lock')), 'no index.json.lock');
  t.notOk(existsSync(path.join(root, 'ingest')), 'no ingest/');
}

async function prepare(
  t: Test,
  build: (dir: string) => void,
): Promise<{ base: string; L: string; exp: Expected }> {
  const base = privateTestdir(t);
  const L = path.join(base, 'layout');
  build(L);
  return { base, L, exp: describeLayout(L) };
}

function requireAll(t: Test, names: string[]): boolean {
  for (const n of names) if (!requireTool(t, n)) return false;
  return true;
}

t.before(() => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build first`);
});

// ---------------------------------------------------------------------------------------------

t.test('read-only bind mount, as root', async (t) => {
  for (const layout of LAYOUTS) {
    await t.test(layout.name, async (t) => {
      if (!requireAll(t, ['bind-mount', ...layout.tools])) return;
      const mounts = new Mounts(t); // before t.testdir(): unmount before tap removes the dir
      const { L, exp } = await prepare(t, layout.build);
      const seen = observe(L);
      const before = snapshotTree(L);
      const ro = mounts.readOnly(L);
      t.same(snapshotTree(ro), before, 'the mount shows the layout');
      t.throws(
        () => writeFileSync(path.join(ro, 'index.json.lock'), ''),
        { code: 'EROFS' },
        'root cannot write through the mount',
      );
      await runCases(t, bundled(), ro, exp);
      t.same(await seen.changes(), [], UNCHANGED);
      checkNoLeftovers(t, L, before);
    });
  }
});

t.test(`uid ${NOBODY} on a 0555/0444 tree`, async (t) => {
  for (const layout of LAYOUTS) {
    await t.test(layout.name, async (t) => {
      if (!requireAll(t, ['setpriv', ...layout.tools])) return;
      let { base, L, exp } = await prepare(t, layout.build);
      const nobodyCan = (script: string): boolean =>
        runTool(AS_NOBODY[0] as string, [...AS_NOBODY.slice(1), process.execPath, '-e', script], {
          cwd: '/',
        }).code === 0;
      if (
        !nobodyCan(
          `require('fs').accessSync(${JSON.stringify(base)}, require('fs').constants.X_OK)`,
        )
      ) {
        // The testdir's parents are not traversable by nobody: use a fresh 0755 dir in /tmp.
        base = mkdtempSync(path.join(os.tmpdir(), TMP_PREFIX));
        chmodSync(base, 0o755);
        const tmp = base;
        t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
        t.comment(`${path.dirname(L)} is not traversable by uid ${NOBODY}; using ${base}`);
        L = path.join(base, 'layout');
        layout.build(L);
        exp = describeLayout(L);
      }
      let script = BUNDLE;
      if (
        !nobodyCan(
          `require('fs').accessSync(${JSON.stringify(BUNDLE)}, require('fs').constants.R_OK)`,
        )
      ) {
        script = path.join(base, 'ocikit.cjs');
        copyFileSync(BUNDLE, script);
        chmodSync(script, 0o444);
        t.comment(`${BUNDLE} is not readable by uid ${NOBODY}; running a copy`);
      }
      const run = bundled({ prefix: AS_NOBODY, cwd: base, script });
      walkTree(L, (abs, isDir) => chmodSync(abs, isDir ? 0o555 : 0o444));
      const seen = observe(L);
      const before = snapshotTree(L);
      t.same(
        [
          ...new Set(
            before.map((l) => (l.includes(' dir') ? 'dir ' : 'file ') + /mode=(\d+)/.exec(l)?.[1]),
          ),
        ].sort(),
        ['dir 555', 'file 444'],
        'dirs are 0555, files 0444',
      );
      t.notOk(
        nobodyCan(
          `require('fs').openSync(${JSON.stringify(path.join(L, 'index.json.lock'))}, 'a')`,
        ),
        `uid ${NOBODY} cannot create index.json.lock`,
      );
      t.notOk(
        nobodyCan(`require('fs').openSync(${JSON.stringify(path.join(L, 'index.json'))}, 'r+')`),
        `uid ${NOBODY} cannot open index.json for writing`,
      );
      await runCases(t, run, L, exp);
      t.same(await seen.changes(), [], UNCHANGED);
      checkNoLeftovers(t, L, before);
    });
  }
});

t.test(
  'writable tree, as root, no mount: nothing created, removed, modified or touched',
  async (t) => {
    await t.test('the checks see a buildx-style lock file and a touched blob', async (t) => {
      const L = path.join(privateTestdir(t), 'layout');
      const s = standardLayout(L);
      const seen = observe(L);
      const lock = path.join(L, 'index.json.lock');
      const blob = path.join(L, 'blobs', ...s.single.digest.split(':'));
      // What BuildKit's client/ociindex does on a writable layout, then an atime set on purpose.
      const script = `const fs = require('fs'); fs.closeSync(fs.openSync(${JSON.stringify(lock)}, 'a', 0o600)); fs.unlinkSync(${JSON.stringify(lock)}); fs.utimesSync(${JSON.stringify(blob)}, new Date(), fs.statSync(${JSON.stringify(blob)}).mtime);`;
      mustRun(process.execPath, ['-e', script]);
      const changes = await seen.changes();
      t.match(changes.join('\n'), /inotify rename index\.json\.lock/, 'inotify saw the lock file');
      t.match(changes.join('\n'), /^- \. mode=\d+ mtime=/m, 'the directory mtime moved');
      if (seen.atimes)
        t.match(
          changes.join('\n'),
          new RegExp(`^- blobs/sha256/${s.single.digest.slice(7)} atime=`, 'm'),
          'the atime change was seen',
        );
    });

    for (const layout of LAYOUTS) {
      await t.test(layout.name, async (t) => {
        if (!requireAll(t, layout.tools)) return;
        const { L, exp } = await prepare(t, layout.build);
        const seen = observe(L);
        if (!seen.atimes)
          t.comment('reads update atimes on this mount (strictatime?): atimes not compared');
        const before = snapshotTree(L);
        await runCases(t, bundled(), L, exp);
        t.same(await seen.changes(), [], UNCHANGED);
        checkNoLeftovers(t, L, before);
      });
    }
  },
);

t.test('no mounts are left behind', async (t) => {
  if (prerequisiteProblem('bind-mount') !== undefined) return t.plan(0, 'no mounts were made');
  // This process's only: another test file may be mounting beside it (tap runs files in parallel).
  t.same(ourMountPoints(), [], 'none of our ro-mount-* under .tap/fixtures');
  t.same(mountsInOurTestdirs(), [], 'nothing mounted in our testdirs');
});

t.test('permission problems get their own codes (as uid 65534)', async (t) => {
  if (!requireTool(t, 'setpriv')) return;
  const root = mkdtempSync(path.join(os.tmpdir(), 'ocikit-perm-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755);
  const bundleCopy = path.join(root, 'ocikit.cjs');
  copyFileSync(BUNDLE, bundleCopy);
  const closed = path.join(root, 'closed');
  mkdirSync(closed, { mode: 0o700 });
  standardLayout(path.join(closed, 'layout'));
  const open = path.join(root, 'open');
  standardLayout(open);
  chmodSync(path.join(open, 'index.json'), 0o600);
  const as = (args: string[]) =>
    spawnSync(
      AS_NOBODY[0] as string,
      [...AS_NOBODY.slice(1), process.execPath, bundleCopy, ...args],
      { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } },
    );
  const a = as(['resolve', path.join(closed, 'layout'), '--json']);
  t.equal(a.status, 1);
  t.match(JSON.parse(a.stdout), {
    error: { code: 'OCIKIT_LAYOUT_UNREADABLE', hint: /read and traverse/ },
  });
  const b = as(['resolve', open, '--json']);
  t.equal(b.status, 1);
  t.match(JSON.parse(b.stdout), { error: { code: 'OCIKIT_INDEX_MISSING', message: /EACCES/ } });
});
