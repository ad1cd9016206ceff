import {
  appendFileSync,
  existsSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ROOT, cli } from './helpers/cli.js';
import { LayoutBuilder, standardLayout, tagged } from './helpers/layout-builder.js';
import { snapshotTree } from './helpers/tree.js';

const FAKE = path.join(ROOT, 'test/fixtures/fake-docker.mjs');

interface Setup {
  root: string;
  digest: string;
  run: (mode: string, extra?: string[]) => ReturnType<typeof cli>;
}

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

function setup(t: Test, annotate = false): Setup {
  const root = t.testdir({
    tmp: {},
    app: { Dockerfile: 'FROM base\nCOPY hello.txt /\n', 'hello.txt': 'hi\n' },
  });
  standardLayout(path.join(root, 'base'));
  // What the fake builder "produces": an index, with or without the requested annotation.
  const b = new LayoutBuilder(path.join(root, 'product'));
  const amd = b.image({
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [{ 'hello.txt': 'hi\n' }],
  });
  const arm = b.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [] });
  const idx = b.index(
    [amd, arm],
    annotate ? { 'org.opencontainers.image.title': 'app' } : undefined,
  );
  b.writeIndex([tagged(idx, 'latest')]);
  const previous = process.env['TMPDIR'];
  process.env['TMPDIR'] = path.join(root, 'tmp');
  t.teardown(() => {
    if (previous === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = previous;
  });
  return {
    root,
    digest: idx.digest,
    run: (mode, extra = []) => {
      const env = {
        PATH: process.env['PATH'],
        HOME: root,
        FAKE_MODE: mode,
        FAKE_LAYOUT: path.join(root, 'product'),
        FAKE_DIGEST: idx.digest,
        FAKE_ARGV: path.join(root, 'argv.json'),
        FAKE_CALLS: path.join(root, 'calls.jsonl'),
      };
      return cli(
        [
          'build',
          '--docker',
          FAKE,
          '--buildx-version',
          '0.13.1',
          '--build-context',
          'base=base:multi',
          '--platform',
          'linux/amd64,linux/arm64',
          '--progress',
          'quiet',
          ...(extra.includes('--out') ? [] : ['--out', 'result']),
          ...extra,
          'app',
        ],
        root,
        env,
      );
    },
  };
}

t.test('success: contexts prepared, stream read, output verified and published', async (t) => {
  const s = setup(t);
  const before = snapshotTree(path.join(s.root, 'base'));
  const r = await s.run('ok', ['--json']);
  t.equal(r.code, 0, r.stdout + r.stderr);
  const doc = JSON.parse(r.stdout) as Record<string, unknown>;
  t.match(doc, {
    ok: true,
    digest: s.digest,
    buildxDigest: s.digest,
    format: 'layout',
    out: 'result',
    contexts: [{ name: 'base', strategy: 'thin' }],
  });
  const argv = JSON.parse(readFileSync(path.join(s.root, 'argv.json'), 'utf8')) as string[];
  t.ok(
    argv.includes('--progress') && argv[argv.indexOf('--progress') + 1] === 'rawjson',
    'buildx always streams rawjson',
  );
  t.ok(
    argv.some((a) => a.startsWith('base=oci-layout://') && a.includes('@sha256:')),
    'digest-pinned context',
  );
  t.ok(existsSync(path.join(s.root, 'result', 'index.json')));
  t.same(readdirSync(path.join(s.root, 'tmp')), [], 'the private temporary directory is gone');
  t.same(snapshotTree(path.join(s.root, 'base')), before, 'the input is untouched');
  t.same(
    readdirSync(s.root).filter((n) => n.includes('ocikit-tmp')),
    [],
    'no temporary sibling left',
  );
});

t.test('a tarball output is checked the same way and renamed into place', async (t) => {
  const s = setup(t);
  const r = await s.run('ok', ['--out', 'image.tar', '--json']);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.match(JSON.parse(r.stdout), { format: 'tar', digest: s.digest });
  t.ok(existsSync(path.join(s.root, 'image.tar')));
  t.same(
    readdirSync(s.root).filter((n) => n.includes('ocikit-tmp')),
    [],
  );
  const again = await s.run('ok', ['--out', 'image.tar']);
  t.equal(again.code, 1, 'an existing tarball is not overwritten');
  t.match(again.stderr, /OCIKIT_OUT_NOT_EMPTY/);
  const broken = await s.run('drop-blob', ['--out', 'broken.tar']);
  t.equal(broken.code, 1);
  t.match(broken.stderr, /OCIKIT_OUTPUT_INVALID/);
  t.notOk(existsSync(path.join(s.root, 'broken.tar')), 'nothing published');
});

t.test('failures: each a distinct code, nothing published, temporaries removed', async (t) => {
  const s = setup(t);
  const cases: [string, string, RegExp?][] = [
    ['no-buildx', 'OCIKIT_BUILDX_MISSING'],
    ['unreachable', 'OCIKIT_BUILDER_UNREACHABLE'],
    ['driver', 'OCIKIT_DRIVER_UNSUPPORTED', /containerd-snapshotter/],
    ['solve-fail', 'OCIKIT_SOLVE_FAILED', /step "\[1\/1\] COPY missing.txt \/" failed/],
    ['exit-1-silent', 'OCIKIT_BUILDX_FAILED', /exited with code 1/],
    ['killed', 'OCIKIT_BUILDX_FAILED', /killed by SIGKILL/],
    ['partial', 'OCIKIT_STREAM_INCOMPLETE'],
    ['unfinished', 'OCIKIT_STREAM_INCOMPLETE', /never finished: "\[1\/1\] COPY x \/"/],
    ['no-metadata', 'OCIKIT_OUTPUT_INVALID'],
    ['wrong-digest', 'OCIKIT_OUTPUT_INVALID'],
    ['drop-blob', 'OCIKIT_OUTPUT_INVALID'],
  ];
  for (const [mode, code, message] of cases) {
    const r = await s.run(mode);
    t.equal(r.code, 1, `${mode}: exit 1`);
    t.match(r.stderr, new RegExp(`ocikit: error ${code}: `), mode);
    if (message !== undefined) t.match(r.stderr, message, mode);
    t.match(r.stderr, /\n  hint: /, `${mode}: hint`);
    t.notOk(existsSync(path.join(s.root, 'result')), `${mode}: nothing published`);
    t.same(readdirSync(path.join(s.root, 'tmp')), [], `${mode}: private temp removed`);
    t.same(
      readdirSync(s.root).filter((n) => n.includes('ocikit-tmp')),
      [],
      `${mode}: no temp sibling`,
    );
  }
  const late = await s.run('driver', ['--no-preflight']);
  t.match(late.stderr, /OCIKIT_DRIVER_UNSUPPORTED/, "recognised from buildx's own error too");
  const missing = await cli(
    [
      'build',
      '--docker',
      '/nonexistent/docker',
      '--buildx-version',
      '0.13.1',
      '--out',
      'result',
      'app',
    ],
    s.root,
  );
  t.match(missing.stderr, /OCIKIT_BUILDX_MISSING/);
  const own = await cli(
    ['build', '--docker', FAKE, '-o', 'type=docker', '--out', 'result', 'app'],
    s.root,
  );
  t.equal(own.code, 2, "-o is ocikit build's own");
  const noOut = await cli(['build', '--docker', FAKE, 'app'], s.root);
  t.equal(noOut.code, 2);
});

t.test('requested index annotations: checked, and repaired on request', async (t) => {
  const s = setup(t);
  const ann = ['--annotation', 'index:org.opencontainers.image.title=app'];
  const r = await s.run('ok', ann);
  t.equal(r.code, 1);
  t.match(r.stderr, /OCIKIT_ANNOTATIONS_MISSING: .*index:org.opencontainers.image.title=app/);
  t.match(r.stderr, /--repair-annotations/);
  const fixed = await s.run('ok', [...ann, '--repair-annotations', '--json']);
  t.equal(fixed.code, 0, fixed.stderr);
  const doc = JSON.parse(fixed.stdout) as {
    digest: string;
    buildxDigest: string;
    annotations: { repaired: unknown[] };
  };
  t.not(doc.digest, doc.buildxDigest, 'a new index digest');
  t.equal(doc.annotations.repaired.length, 1);
  const inspect = await cli(['inspect', 'result', '--json'], s.root);
  t.match(JSON.parse(inspect.stdout), {
    images: [
      { digest: doc.digest, contentAnnotations: { 'org.opencontainers.image.title': 'app' } },
    ],
  });
  const verify = await cli(['verify', 'result'], s.root);
  t.equal(verify.code, 0, verify.stdout);
  // Manifest-level annotations cannot be repaired.
  rmSync(path.join(s.root, 'result'), { recursive: true });
  const manifestLevel = await s.run('ok', ['--annotation', 'manifest:k=v', '--repair-annotations']);
  t.equal(manifestLevel.code, 1);
  t.match(manifestLevel.stderr, /manifest\[linux\/amd64\]:k=v/);
  writeFileSync(path.join(s.root, 'x'), '');
});

t.test('ERROR: lines with exit 0 are warnings once the output verifies', async (t) => {
  const s = setup(t);
  const r = await s.run('noisy');
  t.equal(r.code, 0, r.stderr);
  t.match(
    r.stderr,
    /warning OCIKIT_W_BUILDX_ERROR_LINE: buildx printed "ERROR: \(\*service\).Write failed/,
  );
  t.equal(r.stdout, `${s.digest}\n`);
});

t.test('annotations that the builder kept pass the check', async (t) => {
  const s = setup(t, true);
  const r = await s.run('ok', ['--annotation', 'index:org.opencontainers.image.title=app']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `${s.digest}\n`);
});

t.test('a broken base is refused before docker is run at all', async (t) => {
  const layerOf = (layout: string, manifest: string): string => {
    const m = JSON.parse(
      readFileSync(path.join(layout, 'blobs', ...manifest.split(':')), 'utf8'),
    ) as { layers: { digest: string }[] };
    return path.join(layout, 'blobs', ...(m.layers[0]?.digest ?? '').split(':'));
  };
  const cases: [string, (blob: string, root: string) => void, string, string[]?][] = [
    ['missing layer', (blob) => rmSync(blob), 'OCIKIT_BLOB_MISSING'],
    ['layer of the wrong size', (blob) => appendFileSync(blob, 'x'), 'OCIKIT_BLOB_SIZE_MISMATCH'],
    [
      'layer symlinked out of the layout',
      (blob, root) => {
        writeFileSync(path.join(root, 'stray'), readFileSync(blob));
        rmSync(blob);
        symlinkSync(path.join(root, 'stray'), blob);
      },
      'OCIKIT_BLOB_SYMLINK_ESCAPES',
    ],
    [
      'corrupt layer with --verify',
      (blob) => {
        const b = readFileSync(blob);
        const last = b.length - 1;
        b[last] = (b[last] ?? 0) ^ 0xff;
        writeFileSync(blob, b);
      },
      'OCIKIT_BLOB_DIGEST_MISMATCH',
      ['--verify'],
    ],
  ];
  for (const [name, defect, code, extra] of cases) {
    await t.test(name, async (t) => {
      const s = setup(t);
      const base = path.join(s.root, 'base');
      const multi = JSON.parse(readFileSync(path.join(base, 'index.json'), 'utf8')) as {
        manifests: { digest: string }[];
      };
      const index = JSON.parse(
        readFileSync(
          path.join(base, 'blobs', ...(multi.manifests[0]?.digest ?? '').split(':')),
          'utf8',
        ),
      ) as { manifests: { digest: string }[] };
      const amd64 = index.manifests[0]?.digest ?? '';
      defect(layerOf(base, amd64), s.root);
      const r = await s.run('ok', [...(extra ?? []), '--json']);
      t.equal(r.code, 1, r.stderr);
      t.match(JSON.parse(r.stdout), {
        error: {
          code,
          message: new RegExp(
            `build context base: .*manifest ${amd64} \\(tag "multi", platform linux/amd64\\)`,
          ),
        },
      });
      t.notOk(existsSync(path.join(s.root, 'calls.jsonl')), 'docker was never run');
      t.notOk(existsSync(path.join(s.root, 'argv.json')), 'buildx never started');
      t.notOk(existsSync(path.join(s.root, 'result')), 'nothing published');
      t.same(readdirSync(path.join(s.root, 'tmp')), [], 'no thin copy left');
    });
  }
  await t.test('the same base, intact: docker runs', async (t) => {
    const s = setup(t);
    const r = await s.run('ok', ['--verify']);
    t.equal(r.code, 0, r.stderr);
    const calls = readFileSync(path.join(s.root, 'calls.jsonl'), 'utf8').trim().split('\n');
    t.ok(
      calls.some((c) => c.startsWith('["buildx","build"')),
      'buildx build ran',
    );
  });
});
