/**
 * `ocikit build --docker-host tcp://… --tlscacert --tlscert --tlskey`: every docker command of
 * the build gets DOCKER_HOST and a DOCKER_CERT_PATH of symlinks to the given files, in the
 * run's scratch directory (gone afterwards); the key's content reaches no output and no log.
 * The real thing (a dockerd on tcp://127.0.0.1 with --tlsverify) runs in test/e2e/bazel.sh.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { checkEndpoint, endpointEnv, endpointInputs } from '../src/buildx/endpoint.js';
import { ROOT, cli } from './helpers/cli.js';
import { standardLayout } from './helpers/layout-builder.js';
import { snapshotTree, walkTree } from './helpers/tree.js';

const FAKE = path.join(ROOT, 'test/fixtures/fake-docker.mjs');

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

// A certificate-shaped PEM (the fake docker reads nothing; real certificates are made by
// openssl in test/e2e/bazel.sh) and a real private key, whose body must never show up.
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

function tlsFiles(dir: string): { ca: string; cert: string; key: string; secret: string } {
  const { privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  writeFileSync(path.join(dir, 'ca.crt'), CERT);
  writeFileSync(path.join(dir, 'client.crt'), CERT);
  writeFileSync(path.join(dir, 'client.key'), privateKey, { mode: 0o600 });
  // The base64 body of the key: what a leak would contain.
  const secret = privateKey.split('\n')[1] as string;
  return { ca: 'ca.crt', cert: 'client.crt', key: 'client.key', secret };
}

function setup(t: Test) {
  const root = t.testdir({
    tmp: {},
    app: { Dockerfile: 'FROM base\nCOPY hello.txt /\n', 'hello.txt': 'hi\n' },
  });
  standardLayout(path.join(root, 'base'));
  const product = standardLayout(path.join(root, 'product'));
  const tls = tlsFiles(root);
  const previous = process.env['TMPDIR'];
  process.env['TMPDIR'] = path.join(root, 'tmp');
  t.teardown(() => {
    if (previous === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = previous;
  });
  const seen = path.join(root, 'env.jsonl');
  const run = (extra: string[], env: Record<string, string> = {}) =>
    cli(
      [
        'build',
        '--docker',
        FAKE,
        '--buildx-version',
        '0.29.1',
        '--build-context',
        'base=base:single',
        '--progress',
        'quiet',
        '--out',
        'result',
        ...extra,
        'app',
      ],
      root,
      {
        PATH: process.env['PATH'],
        HOME: root,
        FAKE_MODE: 'ok',
        FAKE_LAYOUT: path.join(root, 'product'),
        FAKE_DIGEST: product.single.digest,
        FAKE_ENV: seen,
        ...env,
      },
    );
  const calls = (): Record<string, unknown>[] =>
    readFileSync(seen, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { root, tls, run, calls };
}

const tlsFlags = (tls: { ca: string; cert: string; key: string }) => [
  '--tlscacert',
  tls.ca,
  '--tlscert',
  tls.cert,
  '--tlskey',
  tls.key,
];

t.test('tcp + TLS: every docker command sees the host and a cert dir of links', async (t) => {
  const s = setup(t);
  const files = [s.tls.ca, s.tls.cert, s.tls.key].map((f) => path.join(s.root, f));
  const before = files.map((f) => snapshotTree(f));
  const r = await s.run(['--docker-host', 'tcp://127.0.0.1:2376', ...tlsFlags(s.tls), '--json']);
  t.equal(r.code, 0, r.stdout + r.stderr);
  const calls = s.calls();
  t.same(
    calls.map((c) => (c['args'] as string[]).join(' ')),
    ['buildx inspect', 'info --format', 'buildx build'],
    'preflight, driver check and the build',
  );
  const certPath = calls[0]?.['DOCKER_CERT_PATH'] as string;
  t.ok(certPath.startsWith(path.join(s.root, 'tmp')), `in the run's scratch: ${certPath}`);
  for (const c of calls) {
    t.match(
      c,
      {
        DOCKER_HOST: 'tcp://127.0.0.1:2376',
        DOCKER_TLS_VERIFY: '1',
        DOCKER_CERT_PATH: certPath,
        links: {
          ca: path.join(s.root, 'ca.crt'),
          cert: path.join(s.root, 'client.crt'),
          key: path.join(s.root, 'client.key'),
        },
      },
      `docker ${(c['args'] as string[]).join(' ')}`,
    );
  }
  t.same(readdirSync(path.join(s.root, 'tmp')), [], 'the cert dir went with the scratch dir');
  t.same(
    files.map((f) => snapshotTree(f)),
    before,
    'the TLS files untouched (linked, never copied)',
  );
  const everything = [r.stdout, r.stderr];
  walkTree(path.join(s.root, 'result'), (abs, isDir) => {
    if (!isDir) everything.push(readFileSync(abs, 'latin1'));
  });
  t.notOk(
    everything.some((x) => x.includes(s.tls.secret)),
    'the key is in no output and no log',
  );
  const doc = JSON.parse(r.stdout) as { argv: string[] };
  t.notOk(
    doc.argv.some((a) => a.includes('client.key') || a.includes('tls')),
    'the docker argv carries no TLS path (they travel in the environment)',
  );
});

t.test('--docker-host alone sets DOCKER_HOST over the environment; no TLS variables', async (t) => {
  const s = setup(t);
  const r = await s.run(['--docker-host', 'tcp://10.0.0.1:2375'], {
    DOCKER_HOST: 'unix:///elsewhere.sock',
  });
  t.equal(r.code, 0, r.stderr);
  for (const c of s.calls()) {
    t.match(c, { DOCKER_HOST: 'tcp://10.0.0.1:2375', DOCKER_CERT_PATH: null, links: null });
  }
});

t.test('TLS from the environment: DOCKER_HOST=tcp:// with the flags', async (t) => {
  const s = setup(t);
  const r = await s.run(tlsFlags(s.tls), { DOCKER_HOST: 'tcp://127.0.0.1:2376' });
  t.equal(r.code, 0, r.stderr);
  t.match(s.calls()[0], { DOCKER_HOST: 'tcp://127.0.0.1:2376', DOCKER_TLS_VERIFY: '1' });
});

t.test('usage errors (exit 2) before docker runs', async (t) => {
  const s = setup(t);
  const cases: [string, string[], RegExp][] = [
    ['partial TLS', ['--docker-host', 'tcp://h:1', '--tlscacert', s.tls.ca], /go together/],
    [
      'TLS on a unix socket',
      ['--docker-host', 'unix:///run/docker.sock', ...tlsFlags(s.tls)],
      /tcp:\/\//,
    ],
    ['TLS, no host', tlsFlags(s.tls), /not set \(the docker context decides\)/],
    ['malformed host', ['--docker-host', 'builder:2376'], /not a docker host address/],
  ];
  for (const [name, extra, message] of cases) {
    const r = await s.run(extra);
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.stderr, /OCIKIT_USAGE/, name);
    t.match(r.stderr, message, name);
  }
  t.throws(() => readFileSync(path.join(s.root, 'env.jsonl')), 'docker never ran');
  t.same(readdirSync(path.join(s.root, 'tmp')), [], 'nothing left in temp');
});

t.test('bad TLS files: coded errors naming the flag, never the content', async (t) => {
  const s = setup(t);
  symlinkSync('nowhere.pem', path.join(s.root, 'dangling.pem'));
  const host = ['--docker-host', 'tcp://127.0.0.1:2376'];
  const cases: [string, string[], string, RegExp][] = [
    [
      'swapped',
      ['--tlscacert', s.tls.ca, '--tlscert', s.tls.key, '--tlskey', s.tls.cert],
      'OCIKIT_TLS_INVALID',
      /--tlscert "client.key" holds no PEM certificate \(it holds a private key: are --tlscert and --tlskey swapped\?\)/,
    ],
    [
      'a directory',
      ['--tlscacert', 'app', '--tlscert', s.tls.cert, '--tlskey', s.tls.key],
      'OCIKIT_TLS_INVALID',
      /--tlscacert "app" is not a PEM file \(not a regular file\)/,
    ],
    [
      'missing',
      ['--tlscacert', s.tls.ca, '--tlscert', s.tls.cert, '--tlskey', 'dangling.pem'],
      'OCIKIT_INPUT_UNREADABLE',
      /cannot read "dangling.pem" \(the --tlskey client key\) \(ENOENT\)/,
    ],
  ];
  for (const [name, extra, code, message] of cases) {
    const r = await s.run([...host, ...extra]);
    t.equal(r.code, 1, `${name}: exit 1`);
    t.match(r.stderr, new RegExp(`ocikit: error ${code}: `), name);
    t.match(r.stderr, message, name);
    t.notOk(r.stderr.includes(s.tls.secret), `${name}: the key is not echoed`);
    t.same(readdirSync(path.join(s.root, 'tmp')), [], `${name}: nothing left in temp`);
  }
});

t.test('an unreachable tcp daemon: OCIKIT_BUILDER_UNREACHABLE with a hint by cause', async (t) => {
  const s = setup(t);
  const host = ['--docker-host', 'tcp://127.0.0.1:45527'];
  const cases: [string, string[], RegExp, RegExp][] = [
    [
      'tls-http',
      host,
      /Client sent an HTTP request to an HTTPS server/,
      /--tlscacert, --tlscert, --tlskey/,
    ],
    [
      'tls-unknown-ca',
      [...host, ...tlsFlags(s.tls)],
      /x509: certificate signed by unknown authority/,
      /not signed by the --tlscacert CA/,
    ],
    [
      'tls-client-refused',
      [...host, ...tlsFlags(s.tls)],
      /remote error: tls: unknown certificate authority/,
      /refused the client certificate/,
    ],
    [
      'down-exit-0',
      host,
      /Cannot connect to the Docker daemon at tcp:\/\/127.0.0.1:45527/,
      /Start the docker daemon/,
    ],
  ];
  for (const [mode, extra, message, hint] of cases) {
    const r = await s.run(extra, { FAKE_MODE: mode });
    t.equal(r.code, 1, `${mode}: exit 1`);
    t.match(
      r.stderr,
      /ocikit: error OCIKIT_BUILDER_UNREACHABLE: the builder cannot be reached: /,
      mode,
    );
    t.match(r.stderr, message, `${mode}: docker's words`);
    t.match(r.stderr, new RegExp(`hint: .*${hint.source}`), `${mode}: hint`);
    t.same(readdirSync(path.join(s.root, 'tmp')), [], `${mode}: nothing left in temp`);
  }
});

t.test('--out onto a TLS file is refused by the output guard', async (t) => {
  const s = setup(t);
  const r = await cli(
    [
      'build',
      '--docker',
      FAKE,
      '--docker-host',
      'tcp://127.0.0.1:2376',
      ...tlsFlags(s.tls),
      '--out',
      'client.key',
      'app',
    ],
    s.root,
    { PATH: process.env['PATH'], HOME: s.root },
  );
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /OCIKIT_OUT_INSIDE_INPUT/);
  t.match(r.stderr, /--tlskey client.key/);
});

t.test('library: endpointEnv, checkEndpoint and endpointInputs', async (t) => {
  const root = t.testdir({ scratch: {} });
  const tls = tlsFiles(root);
  const env = await endpointEnv(
    { host: 'tcp://b:2376', tls },
    { DOCKER_HOST: 'unix:///x', KEEP: 'me' },
    path.join(root, 'scratch'),
    root,
  );
  t.match(env, {
    DOCKER_HOST: 'tcp://b:2376',
    DOCKER_TLS_VERIFY: '1',
    DOCKER_CERT_PATH: path.join(root, 'scratch', 'docker-tls'),
    KEEP: 'me',
  });
  t.same(readdirSync(path.join(root, 'scratch', 'docker-tls')).sort(), [
    'ca.pem',
    'cert.pem',
    'key.pem',
  ]);
  t.same(await endpointEnv({}, { A: '1' }, path.join(root, 'scratch'), root), { A: '1' });
  t.same(
    endpointInputs({ tls }, root).map((i) => i.label),
    ['--tlscacert ca.crt', '--tlscert client.crt', '--tlskey client.key'],
  );
  t.throws(() => checkEndpoint({ tls }, {}), { code: 'OCIKIT_USAGE' });
  t.doesNotThrow(() => checkEndpoint({ tls }, { DOCKER_HOST: 'tcp://h:1' }));
  t.doesNotThrow(() => checkEndpoint({ host: 'ssh://me@h' }, {}));
});
