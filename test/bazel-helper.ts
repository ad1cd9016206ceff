// rules/private/helper.mjs `build`, as the buildx_build action runs it: the real bundle
// (dist/ocikit.cjs) and the fake docker. What Bazel shows is the helper's stderr: readable coded
// errors (the JSON document goes to a file), warnings, and the unsandboxed warning. Real Bazel
// and buildx run the same in test/e2e/bazel.sh.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { BUNDLE, ROOT } from './helpers/cli.js';
import { LayoutBuilder, standardLayout, tagged } from './helpers/layout-builder.js';

const HELPER = path.join(ROOT, 'rules/private/helper.mjs');
const FAKE = path.join(ROOT, 'test/fixtures/fake-docker.mjs');

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

interface Exec {
  root: string;
  layer: string;
  run: (extra?: string[], config?: string) => { code: number | null; stderr: string };
}

/** An execroot-like directory: a base layout, a staged context, the pinned config. */
function execroot(t: Test): Exec {
  const root = t.testdir({ ctx: { Dockerfile: 'FROM base\n' }, tmp: {} });
  const s = standardLayout(path.join(root, 'base'));
  const manifest = JSON.parse(
    readFileSync(path.join(root, 'base/blobs/sha256', s.amd64.digest.slice(7)), 'utf8'),
  ) as { layers: { digest: string }[] };
  const layer = (manifest.layers[0] as { digest: string }).digest;
  // What the fake builder "produces".
  const b = new LayoutBuilder(path.join(root, 'product'));
  const img = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: 'a' }] });
  b.writeIndex([tagged(img, 'latest')]);
  writeFileSync(
    path.join(root, 'app.buildx.json'),
    JSON.stringify({
      buildContext: [`base=oci-layout://base:multi@${s.multi.digest}`],
      context: 'ctx',
      file: 'ctx/Dockerfile',
      platform: ['linux/amd64'],
    }),
  );
  return {
    root,
    layer,
    run: (extra = [], config = 'app.buildx.json') => {
      const r = spawnSync(
        process.execPath,
        [
          HELPER,
          'build',
          '--cli',
          BUNDLE,
          '--config',
          config,
          '--out',
          'app',
          '--report',
          'app.build.json',
          '--docker',
          FAKE,
          '--buildx-version',
          '0.13.1',
          '--progress',
          'quiet',
          '--split-platforms',
          'never',
          ...extra,
        ],
        {
          cwd: root,
          encoding: 'utf8',
          env: {
            PATH: process.env['PATH'],
            TMPDIR: path.join(root, 'tmp'),
            FAKE_MODE: 'ok',
            FAKE_LAYOUT: path.join(root, 'product'),
            FAKE_DIGEST: img.digest,
            FAKE_CALLS: path.join(root, 'calls.jsonl'),
          },
        },
      );
      return { code: r.status, stderr: r.stderr };
    },
  };
}

t.test(
  'a base missing a layer blob: OCIKIT_BLOB_MISSING as text, buildx never asked',
  async (t) => {
    const e = execroot(t);
    unlinkSync(path.join(e.root, 'base/blobs/sha256', e.layer.slice(7)));
    const r = e.run();
    t.equal(r.code, 1, r.stderr);
    t.match(
      r.stderr,
      new RegExp(
        `^ocikit: error OCIKIT_BLOB_MISSING: build context base: blob ${e.layer}.*\\n  hint: .*buildx was not started`,
        'm',
      ),
    );
    t.notMatch(r.stderr, /^\s*[{"]/m, 'no JSON document on stderr');
    t.notOk(existsSync(path.join(e.root, 'calls.jsonl')), 'docker was never run');
  },
);

t.test('verify-base digest hashes the base; size does not', async (t) => {
  const e = execroot(t);
  const blob = path.join(e.root, 'base/blobs/sha256', e.layer.slice(7));
  const bytes = readFileSync(blob);
  bytes[bytes.length - 1] = (bytes.at(-1) as number) ^ 0xff;
  writeFileSync(blob, bytes);
  const hashed = e.run(['--verify-base', 'digest']);
  t.equal(hashed.code, 1, hashed.stderr);
  t.match(hashed.stderr, /^ocikit: error OCIKIT_BLOB_DIGEST_MISMATCH: build context base: /m);
  // Same size: the default check passes and the (fake) build runs.
  const sized = e.run(['--verify-base', 'size']);
  t.equal(sized.code, 0, sized.stderr);
  const report = JSON.parse(readFileSync(path.join(e.root, 'app.build.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  t.same(Object.keys(report), Object.keys(report).sort(), 'report keys sorted');
  t.match(report, { digest: /^sha256:/, format: 'layout' });
  t.notOk('argv' in report || 'out' in report, 'only the portable part');
});

t.test('an unknown platform in the config is refused unless allowed', async (t) => {
  const e = execroot(t);
  const cfg = JSON.parse(readFileSync(path.join(e.root, 'app.buildx.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  writeFileSync(
    path.join(e.root, 'amd65.json'),
    JSON.stringify({ ...cfg, platform: ['linux/amd65'] }),
  );
  const r = e.run([], 'amd65.json');
  t.equal(r.code, 1);
  t.match(r.stderr, /^ocikit: error OCIKIT_PLATFORM_UNKNOWN: platform "linux\/amd65"/m);
  const allowed = e.run(['--allow-unknown-platforms', 'true'], 'amd65.json');
  t.notMatch(allowed.stderr, /OCIKIT_PLATFORM_UNKNOWN/);
});

t.test('OCIKIT_W_UNSANDBOXED: real input files, or symlinks to writable ones', async (t) => {
  const e = execroot(t);
  const real = e.run();
  t.equal(real.code, 0, real.stderr);
  t.match(
    real.stderr,
    /^ocikit: warning OCIKIT_W_UNSANDBOXED: this buildx_build action is not sandboxed: its inputs are the real files \(app\.buildx\.json is not a sandbox symlink\)\. .*--spawn_strategy=linux-sandbox/m,
  );
  // processwrapper-sandbox: inputs are symlinks, but the files behind them are writable.
  mkdirSync(path.join(e.root, 'sb'));
  symlinkSync(path.join(e.root, 'app.buildx.json'), path.join(e.root, 'sb/app.buildx.json'));
  const linked = e.run([], 'sb/app.buildx.json');
  t.match(
    linked.stderr,
    /OCIKIT_W_UNSANDBOXED: .*writes through its input symlinks reach the real files \(sb\/app\.buildx\.json is writable\)/,
  );
});

t.test('helper usage errors are coded too', async (t) => {
  const e = execroot(t);
  const r = e.run(['--verify-base', 'bytes']);
  t.equal(r.code, 2);
  t.match(
    r.stderr,
    /^ocikit: error OCIKIT_USAGE: build: --verify-base bytes: expected size or digest\n  hint: /,
  );
});

// oci_layout_load: `load-archive` (the build action) and `load` (bazel run) print their
// failures as the CLI does. The docker here is a stand-in answering `load` and `image inspect`.
t.test(
  'load-archive then load: readable coded failures, success checked by image ID',
  async (t) => {
    const root = t.testdir({
      'docker.mjs': [
        '#!/usr/bin/env node',
        'const a = process.argv.slice(2);',
        "if (a[0] === 'load') process.exit(0);",
        "if (a[0] === 'info' && process.env.FAKE_STORE) { process.stdout.write(`${process.env.FAKE_STORE}\\n`); process.exit(0); }",
        "if (a[0] === 'image' && a[1] === 'inspect') { process.stdout.write(`${process.env.FAKE_ID}\\n`); process.exit(0); }",
        'process.exit(3);',
        '',
      ].join('\n'),
    });
    chmodSync(path.join(root, 'docker.mjs'), 0o755);
    const s = standardLayout(path.join(root, 'layout'));
    writeFileSync(path.join(root, 'resolved.json'), JSON.stringify({ descriptor: s.multi }));
    writeFileSync(path.join(root, 'empty.json'), '{}\n');
    const helper = (args: string[], env: Record<string, string> = {}) => {
      const r = spawnSync(process.execPath, [HELPER, ...args], {
        cwd: root,
        encoding: 'utf8',
        env: { PATH: process.env['PATH'], ...env },
      });
      return { code: r.status, stderr: r.stderr };
    };
    const name = 'docker.io/library/app:1';
    const packArgs = (resolved: string, out: string) => [
      'load-archive',
      '--cli',
      BUNDLE,
      '--layout',
      'layout',
      '--resolved',
      resolved,
      '--name',
      name,
      '--out',
      out,
      '--info',
      out.replace(/\.tar$/, '.load.json'),
    ];

    const bad = helper(packArgs('empty.json', 'bad.tar'));
    t.equal(bad.code, 1, bad.stderr);
    t.match(
      bad.stderr,
      /^ocikit: error OCIKIT_INTERNAL: load-archive: empty\.json: the resolve output has no descriptor .*\n  hint: The resolve action/,
    );
    t.notOk(existsSync(path.join(root, 'bad.tar')), 'nothing written');

    const packed = helper(packArgs('resolved.json', 'app.tar'));
    t.equal(packed.code, 0, packed.stderr);
    t.ok(existsSync(path.join(root, 'app.tar')), 'the archive for docker load');
    t.same(
      JSON.parse(readFileSync(path.join(root, 'app.load.json'), 'utf8')),
      { classic: [], digest: s.multi.digest },
      'a multi-platform index: nothing the classic image store could name',
    );

    const loadArgs = (docker: string, archive = 'app') => [
      'load',
      '--docker',
      docker,
      '--archive',
      `${archive}.tar`,
      '--resolved',
      archive === 'app' ? 'resolved.json' : `${archive}.resolved.json`,
      '--info',
      `${archive}.load.json`,
      '--name',
      name,
      '--',
    ];
    const docker = path.join(root, 'docker.mjs');
    const ok = helper(loadArgs(docker), { FAKE_ID: s.multi.digest });
    t.equal(ok.code, 0, ok.stderr);
    t.match(ok.stderr, `ocikit: loaded ${s.multi.digest} as ${name}`);

    const other = helper(loadArgs(docker), { FAKE_ID: s.single.digest });
    t.equal(other.code, 1, other.stderr);
    t.match(
      other.stderr,
      new RegExp(
        `^ocikit: error OCIKIT_OUTPUT_INVALID: load: ${name} is ${s.single.digest} in the daemon, not ${s.multi.digest} .*\\n  hint: Another image has that name`,
        'm',
      ),
    );

    // The classic image store (docker info: no containerd snapshotter): one platform per name.
    const classicStore = {
      FAKE_STORE: '[["Backing Filesystem","extfs"],["Supports d_type","true"]]',
    };
    const refused = helper(loadArgs(docker), { ...classicStore, FAKE_ID: s.multi.digest });
    t.equal(refused.code, 1, refused.stderr);
    t.match(
      refused.stderr,
      /^ocikit: error OCIKIT_DRIVER_UNSUPPORTED: load: the daemon uses the classic image store, .* is a multi-platform index\n  hint: Load one platform \(oci_layout_load\(platform = "linux\/amd64"\)\)/m,
    );
    t.notMatch(refused.stderr, /load -i/, 'refused before docker load');
    writeFileSync(path.join(root, 'one.resolved.json'), JSON.stringify({ descriptor: s.single }));
    t.equal(helper(packArgs('one.resolved.json', 'one.tar')).code, 0);
    const manifest = JSON.parse(
      readFileSync(path.join(root, 'layout/blobs/sha256', s.single.digest.slice(7)), 'utf8'),
    ) as { config: { digest: string } };
    const config = manifest.config.digest;
    t.same(JSON.parse(readFileSync(path.join(root, 'one.load.json'), 'utf8')), {
      classic: [{ config, manifest: s.single.digest }],
      digest: s.single.digest,
    });
    const byConfig = helper(loadArgs(docker, 'one'), { ...classicStore, FAKE_ID: config });
    t.equal(byConfig.code, 0, byConfig.stderr);
    t.match(byConfig.stderr, `loaded ${s.single.digest} as ${name} (classic image store`);
    const containerdStore = { FAKE_STORE: '[["driver-type","io.containerd.snapshotter.v1"]]' };
    const byDigest = helper(loadArgs(docker, 'one'), {
      ...containerdStore,
      FAKE_ID: s.single.digest,
    });
    t.equal(byDigest.code, 0, byDigest.stderr);
    t.notMatch(byDigest.stderr, /classic/);

    const missing = helper(loadArgs(path.join(root, 'no-such-docker')));
    t.equal(missing.code, 1, missing.stderr);
    t.match(
      missing.stderr,
      /^ocikit: error OCIKIT_BUILDX_MISSING: load: cannot run .*no-such-docker: .*ENOENT\n  hint: .*--@ocikit\/\/:docker/m,
    );
    t.notMatch(missing.stderr, /^\s+at /m, 'no stack trace');
  },
);

// --@ocikit//:warn_unsandboxed=false reaches the helper as --warn-unsandboxed false.
t.test('--warn-unsandboxed false: the same unsandboxed run, no warning', async (t) => {
  const e = execroot(t);
  const off = e.run(['--warn-unsandboxed', 'false']);
  t.equal(off.code, 0, off.stderr);
  t.notMatch(off.stderr, /OCIKIT_W_UNSANDBOXED/);
  const on = e.run(['--warn-unsandboxed', 'true']);
  t.match(on.stderr, /^ocikit: warning OCIKIT_W_UNSANDBOXED: /m);
  const bad = e.run(['--warn-unsandboxed', 'no']);
  t.equal(bad.code, 2);
  t.match(
    bad.stderr,
    /^ocikit: error OCIKIT_USAGE: build: --warn-unsandboxed no: expected true or false/m,
  );
});

// buildx_args' `bazel run`: docker_host and the TLS files reach every docker command as
// DOCKER_HOST, DOCKER_TLS_VERIFY and a DOCKER_CERT_PATH of symlinks; a stamped epoch is read
// from the status file (runfiles paths are relative to --root) into the build arguments.
t.test('run: docker host, TLS files and the status-file epoch reach docker', async (t) => {
  const e = execroot(t);
  mkdirSync(path.join(e.root, 'tls'));
  for (const f of ['ca.pem', 'cert.pem', 'key.pem'])
    writeFileSync(path.join(e.root, 'tls', f), `not a real ${f}\n`);
  writeFileSync(path.join(e.root, 'volatile-status.txt'), 'BUILD_TIMESTAMP 1700000000\n');
  const run = (
    extra: string[],
  ): { code: number | null; stderr: string; env: Record<string, unknown>[]; calls: string[][] } => {
    const envFile = path.join(e.root, `env-${extra.length}.jsonl`);
    const callsFile = path.join(e.root, `calls-${extra.length}.jsonl`);
    const r = spawnSync(
      process.execPath,
      [
        HELPER,
        'run',
        '--cli',
        BUNDLE,
        '--config',
        'app.buildx.json',
        '--root',
        e.root,
        ...extra,
        '--',
      ],
      {
        cwd: e.root,
        encoding: 'utf8',
        env: {
          PATH: process.env['PATH'],
          TMPDIR: path.join(e.root, 'tmp'),
          OCIKIT_DOCKER: FAKE,
          FAKE_MODE: 'ok',
          FAKE_LAYOUT: path.join(e.root, 'product'),
          FAKE_ENV: envFile,
          FAKE_CALLS: callsFile,
        },
      },
    );
    const lines = (f: string): unknown[] =>
      existsSync(f)
        ? readFileSync(f, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as unknown)
        : [];
    return {
      code: r.status,
      stderr: r.stderr,
      env: lines(envFile) as Record<string, unknown>[],
      calls: lines(callsFile) as string[][],
    };
  };
  const r = run([
    '--docker-host',
    'tcp://127.0.0.1:2376',
    '--tlscacert',
    'tls/ca.pem',
    '--tlscert',
    'tls/cert.pem',
    '--tlskey',
    'tls/key.pem',
    '--source-date-epoch-key',
    'BUILD_TIMESTAMP',
    '--status-file',
    'volatile-status.txt',
    '--rewrite-timestamp',
    'true',
  ]);
  const build = r.calls.find((c) => c[0] === 'buildx' && c[1] === 'build');
  t.ok(build, `docker buildx build ran: ${r.stderr}`);
  t.ok(
    build?.join(' ').includes('--build-arg SOURCE_DATE_EPOCH=1700000000'),
    `${build?.join(' ')}`,
  );
  t.ok(r.env.length > 0, 'docker ran');
  for (const seen of r.env) {
    t.match(seen, {
      DOCKER_HOST: 'tcp://127.0.0.1:2376',
      DOCKER_TLS_VERIFY: '1',
      links: {
        ca: path.join(e.root, 'tls/ca.pem'),
        cert: path.join(e.root, 'tls/cert.pem'),
        key: path.join(e.root, 'tls/key.pem'),
      },
    });
  }
  t.notOk(
    existsSync(String(r.env[0]?.['DOCKER_CERT_PATH'])),
    'the certificate directory is removed afterwards',
  );
  // Without them: the caller's environment (here: no DOCKER_HOST, no TLS), no epoch added.
  const plain = run([]);
  const plainBuild = plain.calls.find((c) => c[0] === 'buildx' && c[1] === 'build');
  t.ok(plainBuild, plain.stderr);
  t.notOk(plainBuild?.join(' ').includes('SOURCE_DATE_EPOCH'), 'no epoch');
  for (const seen of plain.env)
    t.match(seen, { DOCKER_HOST: null, DOCKER_TLS_VERIFY: null, links: null });
  const partial = run(['--tlscacert', 'tls/ca.pem']);
  t.equal(partial.code, 2);
  t.match(partial.stderr, /OCIKIT_USAGE: run: --tlscacert, --tlscert and --tlskey go together/);
});
