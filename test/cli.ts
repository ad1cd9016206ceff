import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { ROOT, bundle, cli } from './helpers/cli.js';
import {
  LayoutBuilder,
  OCI_CONFIG,
  OCI_MANIFEST,
  standardLayout,
  tagged,
} from './helpers/layout-builder.js';

t.test('usage errors exit 2, with --json as one JSON document', async (t) => {
  for (const args of [
    [],
    ['bogus'],
    ['resolve'],
    ['resolve', 'x', '--nope'],
    ['verify', 'x', '--jobs', 'many'],
    ['verify', 'x', '--jobs', '-3'],
    ['resolve', 'x', '--tag'],
    ['resolve', 'x', '--digest', ''],
    ['verify', 'x', '--platform'],
  ]) {
    const r = await cli(args);
    t.equal(r.code, 2, `ocikit ${args.join(' ')}`);
    t.match(r.stderr, /^ocikit: error OCIKIT_USAGE: .+\n  hint: /);
    t.equal(r.stdout, '');
  }
  const j = await cli(['resolve', '--json']);
  t.equal(j.code, 2);
  t.match(JSON.parse(j.stdout), { error: { code: 'OCIKIT_USAGE', message: String, hint: String } });
});

t.test('help and version go to stdout, exit 0', async (t) => {
  const h = await cli(['--help']);
  t.equal(h.code, 0);
  t.match(h.stdout, /ocikit resolve <layout>/);
  t.match(h.stdout, /Exit codes: 0 ok, 1 failure, 2 usage error/);
  const v = await cli(['--version']);
  t.equal(v.code, 0);
  t.match(v.stdout, /^\S+\n$/);
});

t.test('resolve prints only the digest on stdout; --json the descriptor', async (t) => {
  const dir = t.testdir();
  const s = standardLayout(dir);
  const r = await cli(['resolve', dir, '--tag', 'multi', '--platform', 'linux/amd64']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `${s.amd64.digest}\n`);
  const j = await cli(['resolve', '.', '--tag', 'multi', '--json'], dir);
  const doc = JSON.parse(j.stdout) as Record<string, unknown>;
  t.equal(doc['layout'], '.', 'the layout is named as given: no host paths');
  t.match(doc, {
    descriptor: { digest: s.multi.digest, mediaType: s.multi.mediaType, size: s.multi.size },
    matchedBy: 'org.opencontainers.image.ref.name',
    tag: 'multi',
  });
  t.same(Object.keys(doc), Object.keys(doc).sort(), 'keys sorted');
  t.equal(
    (await cli(['resolve', '.', '--tag', 'multi', '--json'], dir)).stdout,
    j.stdout,
    'byte-identical on rerun',
  );
  t.ok(j.stdout.endsWith('}\n'));
});

t.test('dist/ocikit.mjs (0.1) is a deprecated alias of the CommonJS bundle', async (t) => {
  const dir = t.testdir();
  const s = standardLayout(dir);
  const r = spawnSync(
    process.execPath,
    [path.join(ROOT, 'dist/ocikit.mjs'), 'resolve', dir, '--tag', 'single'],
    {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    },
  );
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, `${s.single.digest}\n`);
  t.equal(r.stderr, 'ocikit: warning: dist/ocikit.mjs is deprecated, run dist/ocikit.cjs\n');
  const bad = spawnSync(
    process.execPath,
    [path.join(ROOT, 'dist/ocikit.mjs'), 'resolve', dir, '--tag', 'nope'],
    {
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    },
  );
  t.equal(bad.status, 1, "the exit code is the bundle's");
  t.match(bad.stderr, /OCIKIT_TAG_NOT_FOUND/);
  // Rules of 0.1 name the alias as the script (run_node's first line of the argument file).
  writeFileSync(
    path.join(dir, 'a.params'),
    `${path.join(ROOT, 'dist/ocikit.mjs')}\nresolve\n${dir}\n--tag\nsingle\n`,
  );
  for (const bundle of ['dist/ocikit.mjs', 'dist/ocikit.cjs']) {
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, bundle), `@${path.join(dir, 'a.params')}`],
      {
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
      },
    );
    t.equal(r.status, 0, `${bundle}: ${r.stderr}`);
    t.equal(r.stdout, `${s.single.digest}\n`);
  }
});

t.test('failures exit 1 with a coded error and a hint, no stack trace', async (t) => {
  const dir = t.testdir();
  standardLayout(dir);
  const r = bundle(['resolve', dir, '--tag', 'missing']);
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    /^ocikit: error OCIKIT_TAG_NOT_FOUND: .*"missing"\n  hint: Tags in this layout: multi, single\.\n$/,
  );
  t.notMatch(r.stderr, /\n\s+at /);
  const j = bundle(['resolve', dir, '--tag', 'missing', '--json']);
  t.equal(j.code, 1);
  t.match(JSON.parse(j.stdout), {
    error: { code: 'OCIKIT_TAG_NOT_FOUND', tags: ['multi', 'single'] },
  });
  t.equal(j.stderr, '');
});

t.test('verify and inspect through the bundle', async (t) => {
  const dir = t.testdir();
  standardLayout(dir);
  const v = bundle(['verify', dir, '--json']);
  t.equal(v.code, 0, v.stderr);
  t.match(JSON.parse(v.stdout), { ok: true, blobs: 10, digests: true, problems: [] });
  const i = bundle(['inspect', dir, '--json']);
  t.equal(i.code, 0);
  const doc = JSON.parse(i.stdout) as {
    images: { tags: string[]; manifests: { platform: string; layers: number }[] }[];
  };
  t.same(
    doc.images.map((img) => [img.tags, img.manifests.map((m) => `${m.platform}:${m.layers}`)]),
    [
      [['multi'], ['linux/amd64:1', 'linux/arm64/v8:0']],
      [['single'], ['linux/amd64:2']],
    ],
  );
});

t.test('--json-out writes the JSON document to a file, errors included', async (t) => {
  const dir = t.testdir();
  const s = standardLayout(path.join(dir, 'layout'));
  const ok = await cli(['resolve', 'layout', '--tag', 'single', '--json-out', 'out.json'], dir);
  t.equal(ok.code, 0);
  t.equal(ok.stdout, '');
  t.equal(ok.stderr, '', 'no warnings, nothing on stderr');
  // The document's warnings are told on stderr too (Bazel shows an action's stderr).
  const b = new LayoutBuilder(path.join(dir, 'deviating'));
  const config = b.json({ architecture: 'amd64', os: 'linux', rootfs: null }, OCI_CONFIG);
  b.writeIndex([
    tagged(
      b.json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: null }, OCI_MANIFEST),
      'app',
    ),
  ]);
  const warned = await cli(['resolve', 'deviating', '--tag', 'app', '--json-out', 'w.json'], dir);
  t.equal(warned.code, 0, warned.stderr);
  t.match(warned.stderr, /^ocikit: warning OCIKIT_W_NULL_LIST: .*"layers" is null/m);
  t.match(JSON.parse(readFileSync(path.join(dir, 'w.json'), 'utf8')), {
    warnings: [{ code: 'OCIKIT_W_NULL_LIST' }],
  });
  t.match(JSON.parse(readFileSync(path.join(dir, 'out.json'), 'utf8')), {
    descriptor: { digest: s.single.digest },
  });
  const bad = await cli(['resolve', 'layout', '--tag', 'nope', '--json-out=err.json'], dir);
  t.equal(bad.code, 1);
  t.match(JSON.parse(readFileSync(path.join(dir, 'err.json'), 'utf8')), {
    error: { code: 'OCIKIT_TAG_NOT_FOUND' },
  });
  writeFileSync(path.join(dir, 'blocker'), '');
  const unwritable = await cli(
    ['resolve', 'layout', '--tag', 'single', '--json-out', 'blocker/x.json'],
    dir,
  );
  t.equal(unwritable.code, 1);
  t.match(unwritable.stderr, /OCIKIT_OUT_UNWRITABLE/);
  t.same(
    readdirSync(dir).sort(),
    ['blocker', 'deviating', 'err.json', 'layout', 'out.json', 'w.json'],
    'no temporary files left',
  );
  const nested = await cli(
    ['resolve', 'layout', '--tag', 'single', '--json-out', 'new/dirs/x.json'],
    dir,
  );
  t.equal(nested.code, 0, 'parents of --json-out are created');
  t.ok(existsSync(path.join(dir, 'new/dirs/x.json')));
});

t.test('"-" is not a path for an output flag: a usage error, no file named "-"', async (t) => {
  const root = t.testdir();
  standardLayout(path.join(root, 'l'));
  for (const args of [
    ['resolve', 'l', '--tag', 'single', '--json-out', '-'],
    ['resolve', 'l', '--tag', 'single', '--json-out=-'],
    ['pack', 'l', '--out', '-'],
    ['pack', 'l', '--out=-'],
    ['buildx-args', '--args-file=-', '--buildx-version', '0.29.1', 'l'],
  ]) {
    const r = await cli(args, root);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, /OCIKIT_USAGE/);
    t.notOk(existsSync(path.join(root, '-')), `${args.join(' ')}: no file "-"`);
  }
});

t.test('--help with --json-out prints the help and writes no file', async (t) => {
  const root = t.testdir();
  const r = await cli(['resolve', '--help', '--json-out', 'h.json'], root);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /ocikit resolve <layout>/);
  t.notOk(existsSync(path.join(root, 'h.json')));
});

t.test("inspect's table names artifacts and shows index.json's own annotations", async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const empty = { ...b.blob('{}', 'application/vnd.oci.empty.v1+json'), data: 'e30=' };
  const artifact = b.json(
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.example.thing',
      config: empty,
      layers: [b.blob('artifact\n', 'application/vnd.oci.image.layer.v1.tar')],
    },
    'application/vnd.oci.image.manifest.v1+json',
  );
  const image = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: 'a' }] });
  b.writeIndex([], {
    raw: {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [tagged(artifact, 'thing'), tagged(image, 'app')],
      annotations: { 'org.opencontainers.image.created': '2026-11-30T00:00:00Z' },
    },
  });
  const r = await cli(['inspect', '.'], dir);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^thing +\S+ +artifact +application\/vnd\.example\.thing /m);
  t.match(r.stdout, /^app +\S+ +image +linux\/amd64 /m);
  t.match(
    r.stdout,
    /\nindex\.json annotations:\n {2}org\.opencontainers\.image\.created=2026-11-30T00:00:00Z\n/,
  );
  const j = await cli(['inspect', '.', '--json'], dir);
  t.same(JSON.parse(j.stdout).annotations, {
    'org.opencontainers.image.created': '2026-11-30T00:00:00Z',
  });
});
