import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { shellQuote } from '../src/ops/buildx-args.js';
import { dockerfileSources } from '../src/buildx/sources.js';
import { flagsFromConfig, flagsToArgv, mergeFlags, parseBuildArgs } from '../src/buildx/flags.js';
import { ROOT, cli } from './helpers/cli.js';
import { standardLayout } from './helpers/layout-builder.js';

t.test('docker buildx build flags parse like docker does', async (t) => {
  const { flags, contextDir } = parseBuildArgs([
    '-t',
    'a:1',
    '--tag=b:2',
    '-tc:3',
    '--platform',
    'linux/amd64,linux/arm64',
    '--platform=linux/s390x',
    '--build-arg',
    'K=V',
    '--pull',
    '--push=false',
    '-f',
    'Dockerfile.x',
    '-o',
    'type=oci,dest=out,tar=false',
    '--annotation',
    'index:org.opencontainers.image.title=x',
    '--provenance=false',
    '--sbom',
    'false',
    '--secret',
    'id=s,src=f',
    '--progress',
    'rawjson',
    '--metadata-file',
    'meta.json',
    '--target',
    'final',
    '--label',
    'l=1',
    '.',
  ]);
  t.equal(contextDir, '.');
  t.same(flags.tag, ['a:1', 'b:2', 'c:3']);
  t.same(flags.platform, ['linux/amd64', 'linux/arm64', 'linux/s390x']);
  t.match(flags, {
    pull: true,
    push: false,
    file: 'Dockerfile.x',
    provenance: 'false',
    sbom: 'false',
    progress: 'rawjson',
    target: 'final',
  });
  t.throws(() => parseBuildArgs(['--nope', '.']), { code: 'OCIKIT_USAGE' });
  t.throws(() => parseBuildArgs(['-Z', '.']), { code: 'OCIKIT_USAGE' });
  t.throws(() => parseBuildArgs(['--tag']), { code: 'OCIKIT_USAGE' });
  t.throws(() => parseBuildArgs(['--pull=maybe', '.']), { code: 'OCIKIT_USAGE' });
  t.throws(() => parseBuildArgs(['a', 'b']), { code: 'OCIKIT_USAGE' });
  t.same(parseBuildArgs(['--', '-weird-dir']).contextDir, '-weird-dir');
});

t.test('flags round-trip to argv in a fixed order', async (t) => {
  const argv = [
    '--tag',
    'x',
    '--file',
    'F',
    '--platform',
    'linux/amd64,linux/arm64',
    '--no-cache',
    '--pull=false',
    'ctx',
  ];
  const { flags } = parseBuildArgs(argv);
  t.same(flagsToArgv(flags), [
    '--file',
    'F',
    '--platform',
    'linux/amd64,linux/arm64',
    '--tag',
    'x',
    '--no-cache',
    '--pull=false',
  ]);
});

t.test('JSON config (what the Bazel rules write) merges under the command line', async (t) => {
  const fromConfig = flagsFromConfig(
    {
      context: 'ctx',
      platform: ['linux/amd64'],
      buildArg: { B: '2', A: '1' },
      tag: ['t1'],
      pull: true,
      file: 'Dockerfile',
    },
    'cfg',
  );
  t.same(fromConfig.flags.buildArg, ['A=1', 'B=2'], 'objects become KEY=VALUE in key order');
  t.equal(fromConfig.contextDir, 'ctx');
  const merged = mergeFlags(fromConfig.flags, parseBuildArgs(['-t', 't2', '-f', 'Other']).flags);
  t.same(merged.tag, ['t1', 't2']);
  t.equal(merged.file, 'Other');
  for (const bad of [
    [],
    'x',
    { nope: 1 },
    { pull: 'yes' },
    { file: 1 },
    { tag: [1] },
    { context: 1 },
  ]) {
    t.throws(
      () => flagsFromConfig(bad, 'cfg'),
      { code: 'OCIKIT_CONFIG_INVALID' },
      JSON.stringify(bad),
    );
  }
});

t.test('Dockerfile references and shell quoting', async (t) => {
  const s = dockerfileSources(
    'FROM base AS b\nFROM --platform=$BUILDPLATFORM tools\nCOPY --from=extra /x /\nRUN --mount=type=bind,from=mnt,target=/m true\n',
    { contexts: ['base', 'tools', 'extra', 'mnt', 'spare'] },
  );
  t.same(
    s.unusedContexts,
    ['spare'],
    'FROM, FROM --platform, COPY --from and RUN --mount=from= use contexts',
  );
  t.equal(shellQuote('simple/path:tag@sha256:ab'), 'simple/path:tag@sha256:ab');
  t.equal(shellQuote("it's"), `'it'\\''s'`);
  t.equal(shellQuote('a b'), `'a b'`);
});

t.test('ocikit buildx-args: the complete invocation, deterministic', async (t) => {
  const root = t.testdir();
  const s = standardLayout(path.join(root, 'layout'));
  mkdirSync(path.join(root, 'app'));
  writeFileSync(path.join(root, 'app', 'Dockerfile'), 'FROM base\nCOPY hello.txt /\n');
  const args = [
    'buildx-args',
    '--build-context',
    'base=layout:multi',
    '--build-context',
    'other=docker-image://alpine:3.20',
    '--platform',
    'linux/amd64,linux/arm64',
    '-t',
    'app:1',
    '--annotation',
    'index:org.opencontainers.image.title=app',
    '-o',
    'type=oci,dest=result,tar=false',
    '--provenance=false',
    '--buildx-version',
    '0.29.1',
    '--out',
    'ctx',
    'app',
  ];
  const r = await cli(args, root);
  t.equal(r.code, 0, r.stderr);
  const argv = JSON.parse(r.stdout) as string[];
  t.same(argv, [
    'docker',
    'buildx',
    'build',
    '--platform',
    'linux/amd64,linux/arm64',
    '--build-context',
    `base=oci-layout://${root}/ctx/base:multi@${s.multi.digest}`,
    '--build-context',
    'other=docker-image://alpine:3.20',
    '--annotation',
    'index:org.opencontainers.image.title=app',
    '--tag',
    'app:1',
    '--output',
    'type=oci,dest=result,tar=false',
    '--provenance',
    'false',
    'app',
  ]);
  t.match(r.stderr, /OCIKIT_W_CONTEXT_UNUSED: build context "other"/);
  t.matchSnapshot(r.stdout.split(root).join('<root>'), 'argv json');

  const again = await cli([...args.slice(0, -3), '--out', 'ctx-b', 'app'], root);
  t.equal(
    again.stdout.split('/ctx-b/').join('/ctx/'),
    r.stdout,
    'byte-for-byte the same apart from --out',
  );

  const lines = await cli(
    [...args.slice(0, -3), '--out', 'ctx-c', '--format', 'lines', 'app'],
    root,
  );
  t.equal(lines.stdout, argv.map((a) => a.split('/ctx/').join('/ctx-c/')).join('\n') + '\n');
  const shell = await cli(
    [...args.slice(0, -3), '--out', 'ctx-d', '--format', 'shell', 'app'],
    root,
  );
  t.match(
    shell.stdout,
    /^docker buildx build --platform linux\/amd64,linux\/arm64 --build-context base=oci-layout:\/\//,
  );

  const written = await cli(
    [...args.slice(0, -3), '--out', 'ctx-e', '--args-file', 'argv.json', '--json', 'app'],
    root,
  );
  const doc = JSON.parse(written.stdout) as { argv: string[]; contexts: { strategy: string }[] };
  t.equal(doc.contexts[0]?.strategy, 'thin', '--json: the summary on stdout');
  t.same(
    JSON.parse(readFileSync(path.join(root, 'argv.json'), 'utf8')),
    doc.argv,
    '--args-file: the argv (--format json)',
  );
});

t.test('buildx-args with --config, and its errors', async (t) => {
  const root = t.testdir();
  const s = standardLayout(path.join(root, 'layout'));
  mkdirSync(path.join(root, 'app'));
  writeFileSync(path.join(root, 'app/Dockerfile'), 'FROM base\n');
  writeFileSync(
    path.join(root, 'build.json'),
    JSON.stringify({ context: 'app', buildContext: ['base=layout:single'], tag: ['x'] }),
  );
  const r = await cli(
    [
      'buildx-args',
      '--config',
      'build.json',
      '--buildx-version',
      '0.29.1',
      '--out',
      'ctx',
      '-t',
      'y',
    ],
    root,
  );
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), [
    'docker',
    'buildx',
    'build',
    '--build-context',
    `base=oci-layout://${root}/ctx/base:single@${s.single.digest}`,
    '--tag',
    'x',
    '--tag',
    'y',
    'app',
  ]);
  const noDir = await cli(['buildx-args', '--buildx-version', '0.29.1', '-t', 'x'], root);
  t.equal(noDir.code, 2);
  const badFlag = await cli(
    ['buildx-args', '--buildx-version', '0.29.1', '--frobnicate', 'app'],
    root,
  );
  t.equal(badFlag.code, 2);
  t.match(badFlag.stderr, /unknown flag --frobnicate/);
  const badConfig = await cli(['buildx-args', '--config', 'missing.json', 'app'], root);
  t.equal(badConfig.code, 1);
  t.match(badConfig.stderr, /OCIKIT_CONFIG_INVALID/);
  const badContext = await cli(
    ['buildx-args', '--build-context', 'noequals', '--buildx-version', '0.29.1', '.'],
    root,
  );
  t.match(badContext.stderr, /OCIKIT_CONTEXT_INVALID/);
  writeFileSync(path.join(root, 'app/Dockerfile.rego'), 'package x\n');
  const rego = await cli(
    [
      'buildx-args',
      '--build-context',
      'base=layout:single',
      '--buildx-version',
      '0.31.0',
      '--out',
      'ctx2',
      'app',
    ],
    root,
  );
  t.match(rego.stderr, /OCIKIT_W_REGO_POLICY/);
});

t.test('buildx-args --preflight asks the builder about its driver', async (t) => {
  const root = t.testdir({ app: { Dockerfile: 'FROM base\n' } });
  standardLayout(path.join(root, 'layout'));
  const fake = path.join(ROOT, 'test/fixtures/fake-docker.mjs');
  const base = [
    'buildx-args',
    '--docker',
    fake,
    '--preflight',
    '--buildx-version',
    '0.29.1',
    '--build-context',
    'base=layout:single',
  ];
  const env = (mode: string, driver = 'docker') => ({
    PATH: process.env['PATH'],
    FAKE_MODE: mode,
    FAKE_DRIVER: driver,
  });
  t.equal((await cli([...base, '--out', 'a', 'app'], root, env('ok'))).code, 0);
  const classic = await cli([...base, '--out', 'b', 'app'], root, env('driver'));
  t.equal(classic.code, 1);
  t.match(
    classic.stderr,
    /OCIKIT_DRIVER_UNSUPPORTED: .*containerd image store[\s\S]*hint: .*containerd-snapshotter/,
  );
  t.equal(
    (await cli([...base, '--out', 'c', 'app'], root, env('ok', 'docker-container'))).code,
    0,
    'other drivers pass',
  );
  t.match(
    (await cli([...base, '--out', 'd', 'app'], root, env('unreachable'))).stderr,
    /OCIKIT_BUILDER_UNREACHABLE/,
  );
  t.match(
    (await cli([...base, '--out', 'e', 'app'], root, env('no-buildx'))).stderr,
    /OCIKIT_BUILDX_MISSING/,
  );
});

t.test('ocikit buildx-args: the base check, and --verify', async (t) => {
  const root = t.testdir();
  const s = standardLayout(path.join(root, 'layout'));
  mkdirSync(path.join(root, 'app'));
  writeFileSync(path.join(root, 'app', 'Dockerfile'), 'FROM base\n');
  // Same size, other bytes: only hashing tells.
  const single = JSON.parse(
    readFileSync(path.join(root, 'layout', 'blobs', ...s.single.digest.split(':')), 'utf8'),
  ) as { layers: { digest: string }[] };
  const blob = path.join(root, 'layout', 'blobs', ...(single.layers[1]?.digest ?? '').split(':'));
  const bytes = readFileSync(blob);
  const last = bytes.length - 1;
  bytes[last] = (bytes[last] ?? 0) ^ 0xff;
  writeFileSync(blob, bytes);
  const args = (out: string, ...extra: string[]) => [
    'buildx-args',
    '--build-context',
    'base=layout:single',
    '--buildx-version',
    '0.29.1',
    '--out',
    out,
    ...extra,
    'app',
  ];
  const sizes = await cli(args('ctx1'), root);
  t.equal(sizes.code, 0, `sizes only: ${sizes.stderr}`);
  const hashed = await cli(args('ctx2', '--verify', '--json'), root);
  t.equal(hashed.code, 1);
  t.match(JSON.parse(hashed.stdout), {
    error: {
      code: 'OCIKIT_BLOB_DIGEST_MISMATCH',
      message: new RegExp(`^build context base: blob ${single.layers[1]?.digest}`),
    },
  });
  t.notOk(existsSync(path.join(root, 'ctx2')), 'no thin copy written');
  rmSync(blob);
  const missing = await cli(args('ctx3'), root);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /error OCIKIT_BLOB_MISSING: build context base: .*tag "single"/);
});

t.test(
  "buildx's own outputs: inside the build context yes, onto what buildx reads no",
  async (t) => {
    const root = t.testdir({
      app: { Dockerfile: 'FROM scratch\n', 'Other.Dockerfile': 'FROM scratch\n' },
    });
    const args = (...extra: string[]) => [
      'buildx-args',
      '--buildx-version',
      '0.29.1',
      '--format',
      'shell',
      ...extra,
      'app',
    ];
    // Docker's own example: buildx has read the context before it writes there.
    for (const extra of [
      ['-o', 'app/out'],
      ['--output', 'type=local,dest=app/out'],
      ['--cache-to', 'type=local,dest=app/.cache'],
      ['--metadata-file', 'app/meta.json'],
      ['--iidfile', 'app/iid'],
    ]) {
      const r = await cli(args(...extra), root);
      t.equal(r.code, 0, `${extra.join(' ')}: ${r.stderr}`);
    }
    const refused: [string[], RegExp][] = [
      [['-o', 'app'], /--output dest .* is the same path as the build context app/],
      [['--metadata-file', 'app/Dockerfile'], /is the same path as the Dockerfile app\/Dockerfile/],
      [['--iidfile', 'app/Dockerfile'], /the same path as the Dockerfile app\/Dockerfile/],
      [
        ['-f', 'app/Other.Dockerfile', '--metadata-file', 'app/Other.Dockerfile'],
        /the same path as the Dockerfile app\/Other.Dockerfile/,
      ],
      [['-o', '.'], /--output dest .* is a parent of the build context app/],
    ];
    for (const [extra, message] of refused) {
      const r = await cli(args(...extra), root);
      t.equal(r.code, 1, extra.join(' '));
      t.match(r.stderr, /OCIKIT_OUT_INSIDE_INPUT/);
      t.match(r.stderr, message);
    }
    t.notOk(existsSync(path.join(root, 'app', 'out')), 'ocikit itself wrote none of them');
  },
);
