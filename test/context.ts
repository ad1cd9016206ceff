import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parseBuildxVersion } from '../src/buildx/compat.js';
import { contextDirName, prepareContexts } from '../src/ops/context.js';
import type { OcikitError } from '../src/errors.js';
import { cli } from './helpers/cli.js';
import { LayoutBuilder, standardLayout } from './helpers/layout-builder.js';
import { snapshotTree } from './helpers/tree.js';

const v = (s: string) => parseBuildxVersion(s);

t.test(
  'a writable layout gets a thin copy: metadata written, blobs linked, ingest and lock pre-created',
  async (t) => {
    const root = t.testdir({ out: {} });
    const layoutDir = path.join(root, 'layout');
    const s = standardLayout(layoutDir);
    const before = snapshotTree(layoutDir);
    const out = path.join(root, 'out');
    const r = await prepareContexts([{ name: 'base', ref: { path: layoutDir, tag: 'multi' } }], {
      out,
      buildx: v('0.29.1'),
    });
    const [c] = r.contexts;
    t.match(c, {
      name: 'base',
      strategy: 'thin',
      tag: 'multi',
      link: 'blobs-dir-symlink',
      descriptor: { digest: s.multi.digest },
    });
    t.equal(c?.value, `oci-layout://${out}/base:multi@${s.multi.digest}`);
    t.match(c?.reasons.join(' '), /writable by this user and buildx 0\.29\.1 probes fs-verity/);
    const copy = path.join(out, 'base');
    t.same(readdirSync(copy).sort(), [
      'blobs',
      'index.json',
      'index.json.lock',
      'ingest',
      'oci-layout',
    ]);
    t.ok(lstatSync(path.join(copy, 'blobs')).isSymbolicLink());
    t.equal(
      readlinkSync(path.join(copy, 'blobs')),
      realpathSync(path.join(layoutDir, 'blobs')),
      'absolute link to the real blobs directory',
    );
    t.equal(readFileSync(path.join(copy, 'index.json.lock'), 'utf8'), '');
    t.same(readdirSync(path.join(copy, 'ingest')), []);
    const index = JSON.parse(readFileSync(path.join(copy, 'index.json'), 'utf8')) as {
      manifests: { digest: string; annotations: Record<string, string> }[];
    };
    t.same(
      index.manifests.map((m) => [m.digest, m.annotations['org.opencontainers.image.ref.name']]),
      [[s.multi.digest, 'multi']],
    );
    t.same(snapshotTree(layoutDir), before, 'the input is untouched');
    t.same(readdirSync(root).sort(), ['layout', 'out'], 'no temporary sibling left');
    // The thin copy is itself a valid layout with every blob reachable.
    const verify = await cli(['verify', copy]);
    t.equal(verify.code, 0, verify.stdout);
  },
);

t.test('in place when buildx would not write: ingest present, not writable', async (t) => {
  const root = t.testdir();
  const layoutDir = path.join(root, 'layout');
  standardLayout(layoutDir);
  mkdirSync(path.join(layoutDir, 'ingest'));
  // 0.19 does not probe fs-verity and does not create ingest/: in place even though writable.
  const r = await prepareContexts([{ name: 'base', ref: { path: layoutDir, tag: 'single' } }], {
    buildx: v('0.19.0'),
  });
  t.match(r.contexts[0], { strategy: 'in-place', path: layoutDir });
  t.match(
    r.contexts[0]?.value,
    new RegExp(`^oci-layout://${layoutDir}:single@sha256:[a-f0-9]{64}$`),
  );
  t.equal(r.out, undefined);
  await t.rejects(
    prepareContexts([{ name: 'base', ref: { path: layoutDir, tag: 'single' } }], {
      buildx: v('0.29.1'),
      mode: 'in-place',
    }),
    {
      code: 'OCIKIT_IN_PLACE_UNSAFE',
    },
  );
  const forced = await prepareContexts(
    [{ name: 'base', ref: { path: layoutDir, tag: 'single' } }],
    { buildx: v('0.19.0'), mode: 'thin', out: path.join(root, 'o') },
  );
  t.equal(forced.contexts[0]?.strategy, 'thin');
});

t.test('paths with : or @ are remapped for buildx that misparses them', async (t) => {
  const root = t.testdir();
  const layoutDir = path.join(root, 'a:b@c');
  standardLayout(layoutDir);
  mkdirSync(path.join(layoutDir, 'ingest'));
  const r = await prepareContexts([{ name: 'base', ref: { path: layoutDir, tag: 'single' } }], {
    buildx: v('0.19.0'),
    out: path.join(root, 'out'),
  });
  t.equal(r.contexts[0]?.strategy, 'thin');
  t.match(r.contexts[0]?.reasons.join(), /contains ':' or '@'/);
  t.notMatch(r.contexts[0]?.path ?? ':', /[:@]/);
});

t.test('digest refs, platform pinning, several contexts, context dir names', async (t) => {
  const root = t.testdir();
  const layoutDir = path.join(root, 'layout');
  const s = standardLayout(layoutDir);
  const out = path.join(root, 'out');
  const r = await prepareContexts(
    [
      { name: 'base', ref: { path: layoutDir, digest: s.single.digest } },
      { name: 'docker.io/library/alpine:3.20', ref: { path: layoutDir, tag: 'multi' } },
    ],
    { out, platform: 'linux/amd64' },
  );
  t.match(r.contexts[0], { tag: 'latest', descriptor: { digest: s.single.digest } });
  t.equal(r.contexts[1]?.descriptor.digest, s.amd64.digest, 'platform pinned');
  t.equal(contextDirName('base'), 'base');
  t.match(
    contextDirName('docker.io/library/alpine:3.20'),
    /^docker.io_library_alpine_3.20-[a-f0-9]{8}$/,
  );
  t.same(readdirSync(out).sort(), ['base', contextDirName('docker.io/library/alpine:3.20')].sort());
  t.equal(r.buildx, 'unknown');
});

t.test('bad input: coded errors, nothing written', async (t) => {
  const root = t.testdir({ full: { x: 'y' } });
  const layoutDir = path.join(root, 'layout');
  const s = standardLayout(layoutDir);
  const before = snapshotTree(root);
  const ref = { path: layoutDir, tag: 'multi' };
  const cases: [
    string,
    Parameters<typeof prepareContexts>[0],
    Parameters<typeof prepareContexts>[1],
    string,
  ][] = [
    [
      'duplicate names',
      [
        { name: 'a', ref },
        { name: 'a', ref },
      ],
      { out: path.join(root, 'o') },
      'OCIKIT_CONTEXT_INVALID',
    ],
    [
      'invalid name',
      [{ name: '=x', ref }],
      { out: path.join(root, 'o') },
      'OCIKIT_CONTEXT_INVALID',
    ],
    [
      'unresolvable tag',
      [
        { name: 'a', ref },
        { name: 'b', ref: { path: layoutDir, tag: 'nope' } },
      ],
      { out: path.join(root, 'o') },
      'OCIKIT_TAG_NOT_FOUND',
    ],
    [
      'digest not in layout',
      [{ name: 'a', ref: { path: layoutDir, digest: `sha256:${'1'.repeat(64)}` } }],
      { out: path.join(root, 'o') },
      'OCIKIT_DIGEST_NOT_FOUND',
    ],
    [
      'platform with no match',
      [{ name: 'a', ref }],
      { out: path.join(root, 'o'), platform: 'windows/amd64' },
      'OCIKIT_PLATFORM_NOT_FOUND',
    ],
    [
      'missing layout',
      [{ name: 'a', ref: { path: path.join(root, 'nope') } }],
      { out: path.join(root, 'o') },
      'OCIKIT_LAYOUT_NOT_FOUND',
    ],
    [
      '--out inside the input',
      [{ name: 'a', ref }],
      { out: path.join(layoutDir, 'out') },
      'OCIKIT_OUT_INSIDE_INPUT',
    ],
    [
      '--out not empty',
      [{ name: 'a', ref }],
      { out: path.join(root, 'full') },
      'OCIKIT_OUT_NOT_EMPTY',
    ],
    [
      '--out is a file',
      [{ name: 'a', ref }],
      { out: path.join(root, 'full', 'x') },
      'OCIKIT_OUT_NOT_EMPTY',
    ],
    ['thin copy needed, no --out', [{ name: 'a', ref }], {}, 'OCIKIT_OUT_INVALID'],
    [
      '--out with a colon',
      [{ name: 'a', ref }],
      { out: path.join(root, 'o:1') },
      'OCIKIT_OUT_INVALID',
    ],
  ];
  for (const [name, requests, options, code] of cases) {
    await t.rejects(prepareContexts(requests, options), { code }, name);
    t.same(snapshotTree(root), before, `${name}: nothing written`);
  }
  t.ok(s);
});

t.test('an existing empty --out (as Bazel pre-creates) is filled atomically', async (t) => {
  const root = t.testdir({ out: {} });
  const layoutDir = path.join(root, 'layout');
  standardLayout(layoutDir);
  await prepareContexts([{ name: 'base', ref: { path: layoutDir, tag: 'multi' } }], {
    out: path.join(root, 'out'),
  });
  t.ok(existsSync(path.join(root, 'out', 'base', 'index.json')));
  t.same(readdirSync(root).sort(), ['layout', 'out']);
});

t.test('ocikit context CLI', async (t) => {
  const root = t.testdir();
  const layoutDir = path.join(root, 'layout');
  const s = standardLayout(layoutDir);
  const r = await cli(
    [
      'context',
      'base=oci-layout://layout:multi',
      'two=layout@' + s.single.digest,
      '--out',
      'ctx',
      '--buildx-version',
      '0.29.1',
    ],
    root,
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(
    r.stdout,
    `base=oci-layout://${root}/ctx/base:multi@${s.multi.digest}\ntwo=oci-layout://${root}/ctx/two:latest@${s.single.digest}\n`,
  );
  t.match(r.stderr, /base: thin \(blobs-dir-symlink\)/);
  const j = await cli(
    ['context', 'base=layout:multi', '--out', 'ctx2', '--buildx-version', 'unknown', '--json'],
    root,
  );
  t.equal(j.code, 0);
  t.match(JSON.parse(j.stdout), {
    buildx: 'unknown',
    contexts: [
      {
        name: 'base',
        strategy: 'thin',
        written: [
          'base/blobs',
          'base/index.json',
          'base/index.json.lock',
          'base/ingest/',
          'base/oci-layout',
        ],
      },
    ],
  });
  const bad = await cli(
    ['context', 'nonsense', '--out', 'ctx3', '--buildx-version', '0.29.1'],
    root,
  );
  t.equal(bad.code, 1);
  t.match(bad.stderr, /OCIKIT_CONTEXT_INVALID/);
  const badVersion = await cli(['context', 'base=layout', '--buildx-version', 'banana'], root);
  t.equal(badVersion.code, 2);
  writeFileSync(path.join(root, 'marker'), '');
});

t.test('--max-bytes bounds an archive context as it bounds unpack', async (t) => {
  const root = t.testdir();
  standardLayout(path.join(root, 'layout'));
  t.equal((await cli(['pack', 'layout', '--out', 'img.tar'], root)).code, 0);
  const small = await cli(
    [
      'context',
      'base=img.tar:multi',
      '--buildx-version',
      '0.29.1',
      '--out',
      'c1',
      '--max-bytes',
      '1K',
      '--json',
    ],
    root,
  );
  t.equal(small.code, 1);
  t.equal(JSON.parse(small.stdout).error.code, 'OCIKIT_ARCHIVE_TOO_LARGE');
  t.notOk(existsSync(path.join(root, 'c1')), 'nothing left');
  const bad = await cli(['context', 'base=img.tar:multi', '--max-bytes', 'lots'], root);
  t.equal(bad.code, 2);
  const ok = await cli(
    [
      'context',
      'base=img.tar:multi',
      '--buildx-version',
      '0.29.1',
      '--out',
      'c2',
      '--max-bytes',
      '1M',
    ],
    root,
  );
  t.equal(ok.code, 0, ok.stderr);
});

/** The blob path of a digest in a layout. */
function blobPath(layout: string, digest: string): string {
  return path.join(layout, 'blobs', ...digest.split(':'));
}

/** The first layer of an image manifest in a layout. */
function firstLayer(layout: string, manifest: string): { digest: string; size: number } {
  const m = JSON.parse(readFileSync(blobPath(layout, manifest), 'utf8')) as {
    layers: { digest: string; size: number }[];
  };
  return m.layers[0] as { digest: string; size: number };
}

t.test('the base check: every blob of the selection, before anything is written', async (t) => {
  type Defect = (layout: string, blob: string, elsewhere: string) => void;
  const missing: Defect = (_l, blob) => rmSync(blob);
  const grown: Defect = (_l, blob) => appendFileSync(blob, 'x');
  const escaping: Defect = (_l, blob, elsewhere) => {
    writeFileSync(path.join(elsewhere, 'not-a-blob'), readFileSync(blob));
    rmSync(blob);
    symlinkSync(path.join(elsewhere, 'not-a-blob'), blob);
  };
  const directory: Defect = (_l, blob) => {
    rmSync(blob);
    mkdirSync(blob);
  };
  const sameBlobElsewhere: Defect = (_l, blob, elsewhere) => {
    const other = path.join(elsewhere, 'blobs', 'sha256');
    mkdirSync(other, { recursive: true });
    const target = path.join(other, path.basename(blob));
    writeFileSync(target, readFileSync(blob));
    rmSync(blob);
    symlinkSync(target, blob);
  };
  const flipped: Defect = (_l, blob) => {
    const b = readFileSync(blob);
    const last = b.length - 1;
    b[last] = (b[last] ?? 0) ^ 0xff;
    writeFileSync(blob, b);
  };
  const cases: {
    name: string;
    defect: Defect;
    which: 'amd64-layer' | 'arm64-config' | 'single-config';
    platform?: string;
    verify?: boolean;
    code?: string;
  }[] = [
    { name: 'missing layer', defect: missing, which: 'amd64-layer', code: 'OCIKIT_BLOB_MISSING' },
    {
      name: 'layer of the wrong size',
      defect: grown,
      which: 'amd64-layer',
      code: 'OCIKIT_BLOB_SIZE_MISMATCH',
    },
    {
      name: 'layer symlinked out of the layout',
      defect: escaping,
      which: 'amd64-layer',
      code: 'OCIKIT_BLOB_SYMLINK_ESCAPES',
    },
    {
      name: 'layer is a directory',
      defect: directory,
      which: 'amd64-layer',
      code: 'OCIKIT_BLOB_NOT_FILE',
    },
    {
      name: 'layer linked to the same blob of another layout',
      defect: sameBlobElsewhere,
      which: 'amd64-layer',
    },
    { name: 'corrupt layer, sizes only', defect: flipped, which: 'amd64-layer' },
    {
      name: 'corrupt layer, --verify',
      defect: flipped,
      which: 'amd64-layer',
      verify: true,
      code: 'OCIKIT_BLOB_DIGEST_MISMATCH',
    },
    {
      name: 'missing arm64 config, whole index',
      defect: missing,
      which: 'arm64-config',
      code: 'OCIKIT_BLOB_MISSING',
    },
    {
      name: 'missing config of the selected manifest (found while resolving)',
      defect: missing,
      which: 'single-config',
      code: 'OCIKIT_BLOB_MISSING',
    },
    {
      name: 'missing arm64 config, linux/amd64 selected',
      defect: missing,
      which: 'arm64-config',
      platform: 'linux/amd64',
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const root = t.testdir({ elsewhere: {} });
      const layoutDir = path.join(root, 'layout');
      const s = standardLayout(layoutDir);
      const manifest = {
        'amd64-layer': s.amd64.digest,
        'arm64-config': s.arm64.digest,
        'single-config': s.single.digest,
      }[c.which];
      const tag = c.which === 'single-config' ? 'single' : 'multi';
      const m = JSON.parse(readFileSync(blobPath(layoutDir, manifest), 'utf8')) as {
        config: { digest: string };
      };
      const digest =
        c.which === 'amd64-layer' ? firstLayer(layoutDir, manifest).digest : m.config.digest;
      c.defect(layoutDir, blobPath(layoutDir, digest), path.join(root, 'elsewhere'));
      const before = snapshotTree(root);
      const options: Parameters<typeof prepareContexts>[1] = {
        out: path.join(root, 'out'),
        mode: 'thin',
        buildx: v('0.29.1'),
      };
      if (c.platform !== undefined) options.platform = c.platform;
      if (c.verify !== undefined) options.verify = c.verify;
      const run = prepareContexts([{ name: 'base', ref: { path: layoutDir, tag } }], options);
      if (c.code === undefined) {
        const r = await run;
        t.equal(r.contexts[0]?.strategy, 'thin');
        return;
      }
      const err = (await run.catch((e: unknown) => e)) as OcikitError;
      t.equal(err.code, c.code);
      t.match(err.message, /^build context base: blob /);
      t.match(err.message, digest, 'names the blob');
      t.match(err.message, `manifest ${manifest}`, 'names the manifest that references it');
      t.match(err.message, `tag "${tag}"`, 'names the tag');
      if (c.which !== 'single-config') {
        t.match(
          err.message,
          c.which === 'amd64-layer' ? 'platform linux/amd64' : 'platform linux/arm64/v8',
          'names the platform',
        );
      }
      t.match(err.details, { digest, referencedBy: [{ parent: manifest, tag }] });
      t.same(snapshotTree(root), before, 'nothing written: no thin copy, no --out');
    });
  }
});

t.test('ocikit context: the base check and the fallback warning on the CLI', async (t) => {
  const root = t.testdir();
  const layoutDir = path.join(root, 'layout');
  const s = standardLayout(layoutDir);
  rmSync(blobPath(layoutDir, firstLayer(layoutDir, s.amd64.digest).digest));
  const r = await cli(
    ['context', 'base=layout:multi', '--out', 'ctx', '--buildx-version', '0.29.1', '--json'],
    root,
  );
  t.equal(r.code, 1);
  t.match(JSON.parse(r.stdout), {
    error: { code: 'OCIKIT_BLOB_MISSING', message: /tag "multi", platform linux\/amd64/ },
  });
  t.notOk(existsSync(path.join(root, 'ctx')));
  const untagged = path.join(root, 'untagged');
  const b = new LayoutBuilder(untagged);
  b.writeIndex([b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] })]);
  const warned = await cli(
    ['context', 'base=untagged:v1', '--out', 'ctx2', '--buildx-version', '0.29.1'],
    root,
  );
  t.equal(warned.code, 0, warned.stderr);
  t.match(
    warned.stderr,
    /warning OCIKIT_W_TAG_FALLBACK: base: untagged: no manifest is tagged "v1"/,
  );
  const quiet = await cli(
    ['context', 'base=untagged', '--out', 'ctx3', '--buildx-version', '0.29.1', '--json'],
    root,
  );
  t.match(JSON.parse(quiet.stdout), {
    contexts: [{ matchedBy: 'single-manifest', tag: 'latest' }],
    warnings: [],
  });
  const strict = await cli(
    ['context', 'base=untagged:v1', '--out', 'ctx4', '--buildx-version', '0.29.1', '--strict'],
    root,
  );
  t.equal(strict.code, 1);
  t.match(strict.stderr, /OCIKIT_TAG_NOT_FOUND/);
});
