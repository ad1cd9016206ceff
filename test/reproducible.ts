/**
 * `ocikit build --source-date-epoch` and the other sources of SOURCE_DATE_EPOCH, with the
 * scripted docker: the build argument passed, `rewrite-timestamp=true` asked of the OCI exporter
 * exactly when the builder may have it (BuildKit >= 0.13 / dockerd >= 26.0; unknown: asked, with a
 * warning), said on stderr and in `--json` (`reproducible`). Real buildx: test/e2e/buildx-build.ts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { withRewriteTimestamp } from '../src/buildx/exporters.js';
import type { BuildFlags } from '../src/buildx/flags.js';
import { ROOT, cli } from './helpers/cli.js';
import { LayoutBuilder, tagged } from './helpers/layout-builder.js';

const FAKE = path.join(ROOT, 'test/fixtures/fake-docker.mjs');
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

interface Built {
  code: number;
  stderr: string;
  json: Record<string, unknown>;
  /** The `docker buildx build` argv (undefined when docker never built). */
  argv?: string[];
}

function setup(t: Test): (extra: string[], env?: Record<string, string>) => Promise<Built> {
  const root = t.testdir({ tmp: {}, app: { Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a\n' } });
  const b = new LayoutBuilder(path.join(root, 'product'));
  const img = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: 'a\n' }] });
  b.writeIndex([tagged(img, 'latest')]);
  let n = 0;
  return async (extra, env = {}) => {
    n++;
    const argvFile = path.join(root, `argv-${n}.json`);
    const r = await cli(
      [
        'build',
        '--docker',
        FAKE,
        '--json',
        '--progress',
        'quiet',
        '--out',
        `result-${n}`,
        ...extra,
        'app',
      ],
      root,
      {
        PATH: process.env['PATH'],
        HOME: root,
        TMPDIR: path.join(root, 'tmp'),
        FAKE_MODE: 'ok',
        FAKE_LAYOUT: path.join(root, 'product'),
        FAKE_DIGEST: img.digest,
        FAKE_ARGV: argvFile,
        ...env,
      },
    );
    const out: Built = {
      code: r.code,
      stderr: r.stderr,
      json: JSON.parse(r.stdout) as Record<string, unknown>,
    };
    if (existsSync(argvFile)) out.argv = JSON.parse(readFileSync(argvFile, 'utf8')) as string[];
    return out;
  };
}

const output = (argv: string[] | undefined): string =>
  argv?.[(argv.indexOf('--output') ?? -2) + 1] ?? '';
const buildArgs = (argv: string[] | undefined): string[] =>
  (argv ?? []).flatMap((a, i) => (argv?.[i - 1] === '--build-arg' ? [a] : []));

t.test('--source-date-epoch: build argument, rewrite-timestamp by builder', async (t) => {
  const build = setup(t);
  type Case = [string, Record<string, string>, boolean, boolean | null, RegExp | null, RegExp];
  const cases: Case[] = [
    [
      'dockerd 28.5.2 (BuildKit 0.25.2)',
      {},
      true,
      true,
      null,
      /^dockerd 28\.5\.2\+dfsg4 \(embedded BuildKit 0\.25\.2\)$/,
    ],
    [
      'dockerd 26.0.0, the first with it',
      { FAKE_DOCKERD: '26.0.0' },
      true,
      true,
      null,
      /dockerd 26\.0\.0 \(embedded BuildKit 0\.13\.1\)/,
    ],
    [
      'dockerd 25.0.5 (BuildKit 0.12)',
      { FAKE_DOCKERD: '25.0.5' },
      false,
      false,
      /cannot rewrite layer timestamps/,
      /dockerd 25\.0\.5/,
    ],
    [
      'BuildKit v0.13.0 (docker-container)',
      { FAKE_DRIVER: 'docker-container', FAKE_BUILDKIT: 'v0.13.0' },
      true,
      true,
      null,
      /^BuildKit 0\.13\.0$/,
    ],
    [
      'BuildKit v0.12.5 (docker-container)',
      { FAKE_DRIVER: 'docker-container', FAKE_BUILDKIT: 'v0.12.5' },
      false,
      false,
      /cannot rewrite/,
      /^BuildKit 0\.12\.5$/,
    ],
  ];
  for (const [name, env, rewrite, supported, warning, builder] of cases) {
    const r = await build(['--source-date-epoch', '0', '--buildx-version', '0.29.1'], env);
    t.equal(r.code, 0, `${name}: ${r.stderr}`);
    t.same(buildArgs(r.argv), ['SOURCE_DATE_EPOCH=0'], `${name}: the build argument`);
    t.equal(
      output(r.argv).endsWith(',rewrite-timestamp=true'),
      rewrite,
      `${name}: rewrite-timestamp ${rewrite}`,
    );
    t.match(
      r.json['reproducible'],
      { sourceDateEpoch: '0', from: 'option', rewriteTimestamp: rewrite, supported, builder },
      `${name}: reproducible`,
    );
    const codes = (r.json['warnings'] as { code: string; message: string }[]).filter(
      (w) => w.code === 'OCIKIT_W_REWRITE_TIMESTAMP',
    );
    if (warning === null) t.same(codes, [], `${name}: no warning`);
    else t.match(codes, [{ message: warning }], `${name}: said`);
  }
  // The daemon does not tell its version: unknown, asked anyway, and said.
  const state = path.join(t.testdirName, 'daemon-down');
  writeFileSync(state, '');
  const unknown = await build(
    ['--source-date-epoch', '1700000000', '--no-preflight', '--buildx-version', '0.29.1'],
    {
      FAKE_STATE: state,
    },
  );
  t.equal(unknown.code, 0, unknown.stderr);
  t.ok(output(unknown.argv).endsWith(',rewrite-timestamp=true'), 'unknown: asked for');
  t.match(unknown.json['reproducible'], {
    sourceDateEpoch: '1700000000',
    supported: null,
    rewriteTimestamp: true,
  });
  t.match(unknown.json['warnings'], [
    {
      code: 'OCIKIT_W_REWRITE_TIMESTAMP',
      message: /ignores it if it is older than BuildKit v0\.13\.0/,
    },
  ]);
});

t.test(
  'where the epoch comes from: option, build argument, environment (buildx >= 0.11)',
  async (t) => {
    const build = setup(t);
    const arg = await build(['--build-arg', 'SOURCE_DATE_EPOCH=5', '--buildx-version', '0.29.1']);
    t.match(arg.json['reproducible'], {
      sourceDateEpoch: '5',
      from: 'build-arg',
      rewriteTimestamp: true,
    });
    t.same(buildArgs(arg.argv), ['SOURCE_DATE_EPOCH=5'], 'passed once');
    const same = await build([
      '--source-date-epoch',
      '5',
      '--build-arg',
      'SOURCE_DATE_EPOCH=5',
      '--buildx-version',
      '0.29.1',
    ]);
    t.equal(same.code, 0, 'the option may repeat the build argument');
    t.same(buildArgs(same.argv), ['SOURCE_DATE_EPOCH=5']);
    const env = await build(['--buildx-version', '0.29.1'], { SOURCE_DATE_EPOCH: '7' });
    t.match(env.json['reproducible'], {
      sourceDateEpoch: '7',
      from: 'env',
      rewriteTimestamp: true,
    });
    t.same(buildArgs(env.argv), [], 'buildx forwards it itself');
    const old = await build(['--buildx-version', '0.10.5'], { SOURCE_DATE_EPOCH: '7' });
    t.match(
      old.json['reproducible'],
      { sourceDateEpoch: null, rewriteTimestamp: false },
      'buildx 0.10 does not forward it',
    );
    const none = await build(['--buildx-version', '0.29.1']);
    t.same(
      none.json['reproducible'],
      {
        sourceDateEpoch: null,
        from: null,
        rewriteTimestamp: false,
        supported: null,
        builder: null,
      },
      'no epoch: nothing asked',
    );
    t.notMatch(output(none.argv), /rewrite-timestamp/);
    const empty = await build(['--build-arg', 'SOURCE_DATE_EPOCH=', '--buildx-version', '0.29.1']);
    t.match(
      empty.json['reproducible'],
      { sourceDateEpoch: null },
      'an empty build argument is no epoch',
    );

    for (const [args, why] of [
      [['--source-date-epoch', 'yesterday'], /not a number of seconds/],
      [['--source-date-epoch', '-1'], /not a number of seconds/],
      [['--build-arg', 'SOURCE_DATE_EPOCH=1.5'], /not a number of seconds/],
      [['--source-date-epoch', '1', '--build-arg', 'SOURCE_DATE_EPOCH=2'], /contradicts/],
      [['--source-date-epoch', '1', '--source-date-epoch', '2'], /more than once/],
    ] as [string[], RegExp][]) {
      const r = await build([...args, '--buildx-version', '0.29.1']);
      t.equal(r.code, 2, `${args.join(' ')}: usage error`);
      t.match(r.json, { error: { code: 'OCIKIT_USAGE', message: why } });
      t.equal(r.argv, undefined, 'docker never built');
    }
  },
);

t.test(
  'buildx-args --rewrite-timestamp: every image output asks for it (what bazel run uses)',
  async (t) => {
    const table: [BuildFlags, BuildFlags][] = [
      [
        { output: ['type=oci,dest=out,tar=false'] },
        { output: ['type=oci,dest=out,tar=false,rewrite-timestamp=true'] },
      ],
      [
        { output: ['type=image,name=x,push=true'] },
        { output: ['type=image,name=x,push=true,rewrite-timestamp=true'] },
      ],
      [
        { output: ['type=registry,name=x'] },
        { output: ['type=registry,name=x,rewrite-timestamp=true'] },
      ],
      [
        { output: ['Type=Docker,dest=x.tar'] },
        { output: ['Type=Docker,dest=x.tar,rewrite-timestamp=true'] },
      ],
      [
        { output: ['type=oci,dest=o,rewrite-timestamp=false'] },
        { output: ['type=oci,dest=o,rewrite-timestamp=false'] },
      ],
      [
        { output: ['type=local,dest=dir', './dir', '-', 'type=tar,dest=x.tar', 'type=cacheonly'] },
        { output: ['type=local,dest=dir', './dir', '-', 'type=tar,dest=x.tar', 'type=cacheonly'] },
      ],
      [{ load: true }, { output: ['type=docker,rewrite-timestamp=true'] }],
      [
        { push: true, tag: ['a:1'] },
        { tag: ['a:1'], output: ['type=registry,rewrite-timestamp=true'] },
      ],
      [{ load: false }, { load: false }],
      [{}, {}],
    ];
    for (const [flags, want] of table)
      t.same(withRewriteTimestamp(flags), want, JSON.stringify(flags));

    const root = t.testdir({ app: { Dockerfile: 'FROM scratch\n' } });
    const r = await cli(
      [
        'buildx-args',
        '--rewrite-timestamp',
        '--buildx-version',
        '0.29.1',
        '--load',
        '-o',
        'type=oci,dest=x,tar=false',
        'app',
      ],
      root,
    );
    t.equal(r.code, 0, r.stderr);
    t.same(JSON.parse(r.stdout), [
      'docker',
      'buildx',
      'build',
      '--output',
      'type=oci,dest=x,tar=false,rewrite-timestamp=true',
      '--output',
      'type=docker,rewrite-timestamp=true',
      'app',
    ]);
    const plain = await cli(['buildx-args', '--buildx-version', '0.29.1', '--load', 'app'], root);
    t.same(
      JSON.parse(plain.stdout),
      ['docker', 'buildx', 'build', '--load', 'app'],
      'off by default',
    );
  },
);
