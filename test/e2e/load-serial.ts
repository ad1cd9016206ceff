/**
 * `oci_layout_load`'s two steps (rules/private/helper.mjs `load-archive`, then `load`) against
 * both image stores of the suite's dockerd: the suite's own daemon (containerd image store) and
 * a second daemon of the same suite started here with the classic store (graph drivers:
 * dockerd's default before 29), which reads only Docker's manifest.json of an archive. Run alone
 * (test/e2e/run.sh runs *-serial.ts files one at a time): it starts and stops a daemon.
 *
 * Images: a single-platform manifest (two layers), buildx's single-platform output (an index of
 * one image and its attestation manifest), a multi-platform index (linux/amd64 and a zero-layer
 * linux/arm64/v8), and that index with linux/amd64 selected.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { BUNDLE, ROOT } from '../helpers/cli.js';
import { standardLayout } from '../helpers/layout-builder.js';
import { run, tail, type Ran } from './helpers/exec.js';
import { daemonAt, withSuite, type SuiteDaemon } from './helpers/suite.js';

const HELPER = path.join(ROOT, 'rules/private/helper.mjs');
const DOCKERD = path.join(ROOT, 'scripts/e2e/dockerd.sh');

withSuite(t, main);

interface Case {
  name: string;
  layout: string;
  /** `ocikit resolve` selection flags. */
  select: string[];
  /** What the image ID must be on each store ('refused': the helper refuses before loading). */
  containerd: string;
  classic: string | 'refused';
}

function main(d: SuiteDaemon): void {
  // The second daemon's config must be visible inside the rootfs: a directory under /tmp, bound.
  const work = mkdtempSync('/tmp/ocikit-e2e-load-');
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const host = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };

  const ocikit = (args: string[]): Ran =>
    run([process.execPath, BUNDLE, ...args], { env: { ...d.env }, cwd: work, timeoutMs: 120_000 });
  const helper = (env: NodeJS.ProcessEnv, args: string[]): Ran =>
    run([process.execPath, HELPER, ...args], { env, cwd: work, timeoutMs: 300_000 });
  const docker = (env: NodeJS.ProcessEnv, args: string[]): Ran =>
    run(['docker', ...args], { env, timeoutMs: 60_000 });
  const inspect = (file: string) =>
    JSON.parse(ocikit(['inspect', file, '--json']).stdout) as {
      images: {
        digest: string;
        tags: string[];
        manifests: { digest: string; config: string; platform: string; attestation: boolean }[];
      }[];
    };

  // The layouts: ocikit's standard one, and buildx's own single-platform output.
  const std = path.join(work, 'std');
  const s = standardLayout(std);
  const stdView = inspect(std);
  const configOf = (manifest: string): string => {
    for (const i of stdView.images)
      for (const m of i.manifests) if (m.digest === manifest) return m.config;
    throw new Error(`no manifest ${manifest}`);
  };
  const app = path.join(work, 'app');
  const bx = path.join(work, 'bx');
  run(['mkdir', '-p', app], { env: host });
  writeFileSync(path.join(app, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\n');
  writeFileSync(path.join(app, 'hello.txt'), `load ${d.suite}\n`);
  const built = run(
    [
      'docker',
      'buildx',
      'build',
      '--platform',
      'linux/amd64',
      '--provenance=mode=min',
      '-t',
      'example.com/ocikit/load-bx:1',
      '--output',
      `type=oci,dest=${bx},tar=false`,
      app,
    ],
    { env: d.env, timeoutMs: 300_000 },
  );
  t.equal(built.code, 0, `buildx --output type=oci: ${tail(built.stderr)}`);
  const bxView = inspect(bx);
  const bxImage = bxView.images[0];
  const bxAmd64 = bxImage?.manifests.find((m) => !m.attestation);
  t.ok(
    bxImage?.manifests.some((m) => m.attestation),
    'buildx wrote an attestation manifest beside the image',
  );

  const cases: Case[] = [
    {
      name: 'single',
      layout: std,
      select: ['--tag', 'single'],
      containerd: s.single.digest,
      classic: configOf(s.single.digest),
    },
    {
      name: 'buildx',
      layout: bx,
      select: ['--tag', 'example.com/ocikit/load-bx:1'],
      containerd: bxImage?.digest ?? '',
      classic: bxAmd64?.config ?? '',
    },
    {
      name: 'multi',
      layout: std,
      select: ['--tag', 'multi'],
      containerd: s.multi.digest,
      classic: 'refused',
    },
    {
      name: 'multi-amd64',
      layout: std,
      select: ['--tag', 'multi', '--platform', 'linux/amd64'],
      containerd: s.amd64.digest,
      classic: configOf(s.amd64.digest),
    },
  ];

  // Build time (load-archive), once per case: the archive and what `load` accepts.
  const nameOf = (c: Case, store: string) =>
    `docker.io/ocikit-e2e/load-${c.name}-${store}:${d.suite}`;
  const archives = new Map<string, { tar: string; resolved: string; info: string }>();
  for (const store of ['containerd', 'classic']) {
    for (const c of cases) {
      const base = path.join(work, `${c.name}-${store}`);
      const resolved = `${base}.resolved.json`;
      const r = ocikit(['resolve', c.layout, ...c.select, '--json-out', resolved]);
      t.equal(r.code, 0, `resolve ${c.name}: ${r.stderr}`);
      const made = helper(d.env, [
        'load-archive',
        '--cli',
        BUNDLE,
        '--layout',
        c.layout,
        '--resolved',
        resolved,
        '--name',
        nameOf(c, store),
        '--out',
        `${base}.tar`,
        '--info',
        `${base}.load.json`,
      ]);
      t.equal(made.code, 0, `load-archive ${c.name}: ${made.stderr}`);
      archives.set(`${c.name}-${store}`, {
        tar: `${base}.tar`,
        resolved,
        info: `${base}.load.json`,
      });
    }
  }

  const loadAll = (t: Test, env: NodeJS.ProcessEnv, store: 'containerd' | 'classic') => {
    for (const c of cases) {
      const a = archives.get(`${c.name}-${store}`);
      if (a === undefined) throw new Error(c.name);
      const name = nameOf(c, store);
      const r = helper(env, [
        'load',
        '--docker',
        'docker',
        '--archive',
        a.tar,
        '--resolved',
        a.resolved,
        '--info',
        a.info,
        '--name',
        name,
        '--',
      ]);
      const want = c[store];
      const id = docker(env, ['image', 'inspect', '--format', '{{.Id}}', name]);
      if (want === 'refused') {
        t.equal(r.code, 1, `${c.name} on ${store}: refused`);
        t.match(r.stderr, /OCIKIT_DRIVER_UNSUPPORTED: .*classic image store.*multi-platform/);
        t.match(r.stderr, /platform = "linux\/amd64"/, 'says how to load it');
        t.notMatch(r.stderr, /docker load -i/, 'before docker load ran');
        t.not(id.code, 0, 'nothing loaded under the name');
        t.comment(`OBSERVED suite=${d.suite} store=${store} load ${c.name}: refused`);
        continue;
      }
      t.equal(r.code, 0, `${c.name} on ${store}: ${tail(r.stderr)}`);
      t.equal(id.stdout.trim(), want, `${c.name} on ${store}: ${name} is the image`);
      t.comment(`OBSERVED suite=${d.suite} store=${store} load ${c.name}: id ${want}`);
      docker(env, ['image', 'rm', name]);
    }
  };

  t.test(`${d.suite}: containerd image store (the suite's daemon)`, async (t) => {
    const info = docker(d.env, ['info', '--format', '{{json .DriverStatus}}']);
    t.match(info.stdout, /io\.containerd\.snapshotter/, 'the daemon uses the containerd store');
    loadAll(t, d.env, 'containerd');
  });

  t.test(`${d.suite}: classic image store (a second daemon)`, async (t) => {
    writeFileSync(
      path.join(work, 'daemon.json'),
      '{"features":{"containerd-snapshotter":false}}\n',
    );
    const state = path.join(work, 'classic-state');
    const start = run(
      [
        'bash',
        DOCKERD,
        'start',
        d.suite,
        state,
        '--name',
        'classic',
        '--bind',
        work,
        '--',
        '--config-file',
        path.join(work, 'daemon.json'),
      ],
      { env: host, timeoutMs: 180_000 },
    );
    t.teardown(() => {
      run(['bash', DOCKERD, 'stop', state], { env: host, timeoutMs: 120_000 });
    });
    t.equal(start.code, 0, `classic daemon: ${tail(start.stderr)}`);
    const classic = daemonAt(d.suite, state);
    if ('problem' in classic) {
      t.fail(classic.problem);
      return;
    }
    const info = docker(classic.env, ['info', '--format', '{{json .DriverStatus}}']);
    t.notMatch(info.stdout, /io\.containerd\.snapshotter/, 'the daemon uses the classic store');
    loadAll(t, classic.env, 'classic');
  });
}
