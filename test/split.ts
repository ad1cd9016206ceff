/**
 * `ocikit build --split-platforms`: per-platform builds merged by the index code on builders
 * whose BuildKit crashes on an empty platform (PROBLEMS §2), with the scripted docker.
 * Real buildx on the affected trixie daemon and the fixed forky one: test/e2e/buildx-split.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  EMBEDDED_BUILDKIT,
  hasScratchExportCrash,
  inspectBuilder,
  parseVersion,
} from '../src/buildx/builder.js';
import { parseBuildxVersion } from '../src/buildx/compat.js';
import type { Runner } from '../src/buildx/preflight.js';
import { Bases } from '../src/ops/base-check.js';
import { build } from '../src/ops/build.js';
import { ROOT, cli } from './helpers/cli.js';
import { LayoutBuilder, standardLayout, tagged } from './helpers/layout-builder.js';

const FAKE = path.join(ROOT, 'test/fixtures/fake-docker.mjs');
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

t.test(
  'which builders have the crash: BuildKit version, else the dockerd that embeds it',
  async (t) => {
    const runner =
      (inspect: string, version: string | undefined): Runner =>
      async (argv) =>
        argv[1] === 'buildx'
          ? { code: 0, stdout: inspect, stderr: '' }
          : version === undefined
            ? { code: 1, stdout: '', stderr: 'Cannot connect' }
            : { code: 0, stdout: `${version}\n`, stderr: '' };
    const table: [string, string, string | undefined, boolean | undefined][] = [
      ['docker-container', 'v0.13.2', undefined, true],
      ['docker-container', 'v0.22.0', undefined, true],
      ['docker-container', 'v0.23.0', undefined, false],
      ['docker-container', 'v0.25.2', undefined, false],
      ['docker', 'v0.0.0+unknown', '26.1.5+dfsg1', true],
      ['docker', 'v0.0.0+unknown', '28.2.2', true],
      ['docker', 'v0.0.0+unknown', '28.3.0', false],
      ['docker', 'v0.0.0+unknown', '28.5.2+dfsg4', false],
      ['docker', 'v0.0.0+unknown', undefined, undefined],
      ['docker-container', '', undefined, undefined],
    ];
    for (const [driver, bk, dockerd, want] of table) {
      const info = await inspectBuilder(
        'docker',
        undefined,
        {},
        runner(`Name: b\nDriver: ${driver}\nNodes:\nBuildKit version: ${bk}\n`, dockerd),
      );
      t.equal(hasScratchExportCrash(info), want, `${driver} ${bk} ${dockerd ?? '-'}`);
    }
    // The embedded-BuildKit table is ordered newest first and maps 28.3.0 to the first fixed one.
    const fixedRow = EMBEDDED_BUILDKIT.find((r) => r.dockerd.join('.') === '28.3.0');
    t.equal(fixedRow?.buildkit, '0.23.1');
    t.same(parseVersion('v0.13.2'), { major: 0, minor: 13, patch: 2, raw: '0.13.2' });
  },
);

interface Setup {
  root: string;
  /** The scripted docker's environment (what `run` passes). */
  env: (extra: Record<string, string>) => Record<string, string>;
  run: (env: Record<string, string>, extra?: string[]) => ReturnType<typeof cli>;
  builds: () => string[][];
}

function setup(t: Test, dockerfile = 'FROM base\n'): Setup {
  const root = t.testdir({ tmp: {}, app: { Dockerfile: dockerfile } });
  standardLayout(path.join(root, 'base'));
  // What the fake builder produces for each platform built alone.
  const amd = new LayoutBuilder(path.join(root, 'amd64'));
  const a = amd.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ h: 'hi' }] });
  amd.writeIndex([tagged(a, 'latest')]);
  const arm = new LayoutBuilder(path.join(root, 'arm64'));
  const r = arm.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [] });
  arm.writeIndex([tagged(r, 'latest')]);
  // ... and for both at once.
  const both = new LayoutBuilder(path.join(root, 'both'));
  const ba = both.image({
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [{ h: 'hi' }],
  });
  const br = both.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [] });
  const idx = both.index([ba, br], { 'org.opencontainers.image.title': 'app' });
  both.writeIndex([tagged(idx, 'latest')]);
  const log = path.join(root, 'argv.log');
  const fakeEnv: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    HOME: root,
    TMPDIR: path.join(root, 'tmp'),
    FAKE_MODE: 'ok',
    FAKE_LAYOUT: path.join(root, 'both'),
    FAKE_DIGEST: idx.digest,
    FAKE_ARGV_LOG: log,
    FAKE_PLATFORM_LAYOUTS: JSON.stringify({
      'linux/amd64': { layout: path.join(root, 'amd64'), digest: a.digest },
      'linux/arm64': { layout: path.join(root, 'arm64'), digest: r.digest },
    }),
  };
  return {
    root,
    env: (extra) => ({ ...fakeEnv, ...extra }),
    run: (env, extra = []) =>
      cli(
        [
          'build',
          '--docker',
          FAKE,
          '--buildx-version',
          '0.13.1',
          ...(extra.includes('--build-context')
            ? []
            : ['--build-context', 'base=base:multi', '--platform', 'linux/amd64,linux/arm64']),
          '--annotation',
          'index:org.opencontainers.image.title=app',
          '--progress',
          'quiet',
          ...(extra.includes('--out') ? [] : ['--out', 'result']),
          ...extra,
          'app',
        ],
        root,
        {
          ...fakeEnv,
          ...env,
        },
      ),
    builds: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as string[])
            .filter((a) => a[0] === 'buildx' && a[1] === 'build')
        : [],
  };
}

const platformsOf = (argv: string[]) => argv[argv.indexOf('--platform') + 1];

t.test('a split build opens, resolves and checks its base once for all its runs', async (t) => {
  const s = setup(t);
  const bases = new Bases();
  const result = await build(
    {
      buildContext: ['base=base:multi'],
      platform: ['linux/amd64', 'linux/arm64'],
    },
    'app',
    {
      out: path.join(s.root, 'result'),
      cwd: s.root,
      docker: FAKE,
      env: s.env({ FAKE_DOCKERD: '26.1.5+dfsg1' }),
      buildx: parseBuildxVersion('0.13.1'),
      bases,
    },
  );
  t.match(result.split, {
    split: true,
    platforms: [{ platform: 'linux/amd64' }, { platform: 'linux/arm64' }],
  });
  t.equal(s.builds().length, 2, 'two buildx runs, each with its contexts prepared');
  t.same(bases.stats, { opened: 1, checked: 1 }, 'one open, one resolve + base check');
});

t.test('an affected daemon and a scratch platform: one build per platform, merged', async (t) => {
  const s = setup(t);
  const r = await s.run({ FAKE_DOCKERD: '26.1.5+dfsg1' }, ['--json']);
  t.equal(r.code, 0, r.stdout);
  const doc = JSON.parse(r.stdout);
  t.match(doc.split, { mode: 'auto', split: true });
  t.match(doc.split.reason, /zero layers for linux\/arm64.*dockerd 26\.1\.5.*0\.13\.2/);
  t.same(
    s.builds().map(platformsOf),
    ['linux/amd64', 'linux/arm64'],
    'each platform built on its own',
  );
  for (const argv of s.builds())
    t.notOk(argv.join(' ').includes('index:'), 'index annotations are applied by the merge');
  const index = JSON.parse(readFileSync(path.join(s.root, 'result', 'index.json'), 'utf8'));
  const top = index.manifests.find((d: { digest: string }) => d.digest === doc.digest);
  t.ok(top, 'index.json names the merged index');
  const blob = JSON.parse(
    readFileSync(path.join(s.root, 'result', 'blobs', doc.digest.replace(':', '/')), 'utf8'),
  );
  t.same(
    blob.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
    ['amd64', 'arm64'],
  );
  t.equal(blob.annotations['org.opencontainers.image.title'], 'app', 'index annotation carried');
  const verify = await cli(['verify', 'result'], s.root);
  t.equal(verify.code, 0, verify.stdout);

  const text = await s.run({ FAKE_DOCKERD: '26.1.5+dfsg1' }, ['--out', 'result2']);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stderr, /one platform at a time \(--split-platforms=auto\)/);
});

t.test('a fixed daemon builds in one pass; never and always are obeyed', async (t) => {
  const s = setup(t);
  const fixed = await s.run({ FAKE_DOCKERD: '28.5.2+dfsg4' }, ['--json']);
  t.equal(fixed.code, 0, fixed.stderr);
  t.match(JSON.parse(fixed.stdout).split, { split: false });
  t.same(s.builds().map(platformsOf), ['linux/amd64,linux/arm64']);

  const always = await s.run({ FAKE_DOCKERD: '28.5.2' }, [
    '--split-platforms',
    'always',
    '--out',
    'r2',
    '--json',
  ]);
  t.equal(always.code, 0, always.stderr);
  t.match(JSON.parse(always.stdout).split, { mode: 'always', split: true });

  const tar = await s.run({ FAKE_DOCKERD: '26.1.5' }, ['--out', 'r3.tar', '--json']);
  t.equal(tar.code, 0, tar.stderr);
  t.match(JSON.parse(tar.stdout), { format: 'tar', split: { split: true } });
  const unpack = await cli(['unpack', 'r3.tar', '--out', 'r3'], s.root);
  t.equal(unpack.code, 0, unpack.stderr);
});

t.test('no empty platform: no split even on an affected daemon', async (t) => {
  const s = setup(t);
  const r = await s.run({ FAKE_DOCKERD: '26.1.5' }, [
    '--build-context',
    'base=base:single',
    '--platform',
    'linux/amd64,linux/arm64',
    '--json',
  ]);
  // base:single has one amd64 image: nothing resolves to zero layers.
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout).split, { split: false });
});

t.test('the crash, when it happens anyway, is named: OCIKIT_BUILDER_CRASHED', async (t) => {
  const s = setup(t);
  const state = path.join(s.root, 'daemon-crashed');
  const r = await s.run({ FAKE_DOCKERD: '26.1.5', FAKE_MODE: 'crash', FAKE_STATE: state }, [
    '--split-platforms',
    'never',
    '--json',
  ]);
  t.equal(r.code, 1);
  const err = JSON.parse(r.stdout).error;
  t.equal(err.code, 'OCIKIT_BUILDER_CRASHED');
  t.match(err.message, /0\.23\.0/);
  t.match(err.hint, /--split-platforms/);
  t.notOk(existsSync(path.join(s.root, 'result')), 'nothing published');
  // The same stream with a daemon that still answers stays a build failure.
  const alive = await s.run({ FAKE_DOCKERD: '26.1.5', FAKE_MODE: 'crash', FAKE_STATE: '' }, [
    '--split-platforms',
    'never',
    '--out',
    'r2',
    '--json',
  ]);
  t.equal(alive.code, 1);
  t.not(JSON.parse(alive.stdout).error.code, 'OCIKIT_BUILDER_CRASHED');
  // auto on the crashing daemon avoids it.
  const auto = await s.run({ FAKE_DOCKERD: '26.1.5', FAKE_MODE: 'crash' }, [
    '--out',
    'r3',
    '--json',
  ]);
  t.equal(auto.code, 0, auto.stdout);
});
