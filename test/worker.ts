/**
 * `ocikit --persistent_worker`, driven as Bazel drives it (the bundle, Bazel's JSON protocol:
 * compact requests back to back on stdin, one response line each on stdout), and the
 * argument files (`@FILE`) of the rules' command lines.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { RequestSplitter, serveWorker, type WorkResponse } from '../src/cli/worker.js';
import { BUNDLE, ROOT } from './helpers/cli.js';
import { LayoutBuilder, OCI_LAYER_GZIP, standardLayout, tagged } from './helpers/layout-builder.js';
import { WorkerProcess, type Response } from './helpers/worker.js';

const HELPER = path.join(ROOT, 'rules/private/helper.mjs');
const FAKE_DOCKER = path.join(ROOT, 'test/fixtures/fake-docker.mjs');

/** A request's arguments as run_node writes them: the script first (the bundle's own path). */
const cli = (...args: string[]): string[] => [BUNDLE, ...args];

/**
 * A build whose fake docker never ends (the worker runs with FAKE_MODE=hang): on `layout:multi`,
 * into `result`, from the context directory `app`.
 */
const hangingBuild = (app: string): string[] =>
  cli(
    'build',
    '--docker',
    FAKE_DOCKER,
    '--buildx-version',
    '0.13.1',
    '--no-preflight',
    '--split-platforms',
    'never',
    '--progress',
    'quiet',
    '--build-context',
    'base=layout:multi',
    '--out',
    'result',
    app,
  );

/** Every name under `dir`, recursively (relative paths), for "nothing else was written". */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      out.push(r);
      const st = lstatSync(path.join(dir, r));
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

t.test('singleplex: requests back to back, answered in order', async (t) => {
  const dir = t.testdir();
  const s = standardLayout(path.join(dir, 'layout'));
  const w = new WorkerProcess(dir);
  t.teardown(() => w.stop());
  // Bazel writes each request as compact JSON without a newline.
  w.send({ arguments: cli('resolve', 'layout', '--tag', 'multi', '--platform', 'linux/amd64') });
  w.send({ arguments: cli('resolve', 'layout', '--tag', 'nope'), requestId: 0 });
  w.send({ arguments: cli('resolve', 'layout', '--tag', 'single', '--json-out', 'out/r.json') });
  w.send({ arguments: cli('resolve', '--bogus'), verbosity: 10 });
  w.send({ arguments: cli('--version') });
  const [ok, missing, jsonOut, usage, version] = await w.take(5);
  t.same(ok, { exitCode: 0, output: `${s.amd64.digest}\n`, requestId: 0 });
  t.equal(missing?.exitCode, 1);
  t.match(missing?.output, /^ocikit: error OCIKIT_TAG_NOT_FOUND: .*"nope"\n  hint: /);
  t.same(jsonOut, { exitCode: 0, output: '', requestId: 0 }, '--json-out: nothing printed');
  t.match(JSON.parse(readFileSync(path.join(dir, 'out/r.json'), 'utf8')), {
    descriptor: { digest: s.single.digest },
  });
  t.equal(usage?.exitCode, 2, 'usage errors keep exit code 2');
  t.match(usage?.output, /^ocikit: error OCIKIT_USAGE: /);
  t.match(
    usage?.output,
    /ocikit worker: pid \d+, request 4 of this process, \d+ MiB resident\n$/,
    'verbosity 10 (--worker_verbose) adds the worker line',
  );
  t.same(version, { exitCode: 0, output: '0.1.0\n', requestId: 0 });
  // The rules' helper: stage in the worker's process, other commands as a child process.
  writeFileSync(path.join(dir, 'a.txt'), 'A\n');
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([['a.txt', 'sub/a.txt']]));
  const staged = await w.request({
    arguments: [HELPER, 'stage', '--out', 'staged', '--manifest', 'manifest.json'],
  });
  t.same(staged, { exitCode: 0, output: '', requestId: 0 });
  t.equal(readFileSync(path.join(dir, 'staged/sub/a.txt'), 'utf8'), 'A\n');
  const child = await w.request({ arguments: [HELPER, 'build', '--config', 'x'] });
  t.equal(child.exitCode, 2);
  t.match(child.output, /^ocikit: error OCIKIT_USAGE: build: --cli is required\n/);
  t.equal(await w.stop(), 0, 'the worker exits 0 when stdin ends');
  t.same(w.stray, [], 'stdout holds responses only');
});

t.test('multiplex: concurrent requests, each in its own sandboxDir', async (t) => {
  const dir = t.testdir();
  const n = 8;
  for (let i = 1; i <= n; i++) standardLayout(path.join(dir, `sandbox/${i}/layout`));
  const w = new WorkerProcess(dir);
  t.teardown(() => w.stop());
  for (let i = 1; i <= n; i++) {
    const args =
      i % 2 === 0
        ? cli('context', 'base=layout:multi', '--out', 'ctx', '--mode', 'thin')
        : cli('resolve', 'layout', '--tag', 'multi', '--json-out', 'r.json');
    w.send({
      arguments: [...args, ...(i % 2 === 0 ? ['--buildx-version', '0.29.1'] : [])],
      requestId: i,
      sandboxDir: `sandbox/${i}`,
      inputs: [{ path: 'layout/index.json', digest: 'x' }],
    });
  }
  const responses = await w.take(n);
  t.same(
    responses.map((r) => r.requestId).sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  for (const r of responses) {
    const sandbox = path.join(dir, `sandbox/${r.requestId}`);
    t.equal(r.exitCode, 0, `request ${r.requestId}: ${r.output}`);
    t.notOk('wasCancelled' in r);
    if (r.requestId % 2 === 0) {
      // The thin copy is in this request's sandbox, its blobs link to this sandbox's layout.
      t.equal(r.output.split('\n').filter((l) => l.startsWith('base=')).length, 1);
      t.match(r.output, `base=oci-layout://${realpathSync(sandbox)}/ctx/base:multi@sha256:`);
      t.equal(
        readlinkSync(path.join(sandbox, 'ctx/base/blobs')),
        path.join(realpathSync(sandbox), 'layout/blobs'),
      );
      for (let other = 1; other <= n; other++)
        if (other !== r.requestId) t.notMatch(r.output, `sandbox/${other}/`, 'only its own paths');
      t.same(
        tree(sandbox).filter((p) => !p.startsWith('layout')),
        [
          'ctx',
          'ctx/base',
          'ctx/base/blobs',
          'ctx/base/index.json',
          'ctx/base/index.json.lock',
          'ctx/base/ingest',
          'ctx/base/oci-layout',
        ],
      );
    } else {
      t.equal(r.output, '');
      t.match(JSON.parse(readFileSync(path.join(sandbox, 'r.json'), 'utf8')), {
        layout: 'layout',
      });
      t.same(
        tree(sandbox).filter((p) => !p.startsWith('layout')),
        ['r.json'],
      );
    }
  }
  t.same(
    tree(dir).filter((p) => !p.startsWith('sandbox')),
    [],
    'nothing outside the sandboxes',
  );
  t.same(w.stray, []);
});

t.test('cancel: the request stops, answers wasCancelled, leaves nothing', async (t) => {
  const dir = t.testdir({ app: { Dockerfile: 'FROM base\n' }, tmp: {} });
  standardLayout(path.join(dir, 'sandbox/layout'));
  standardLayout(path.join(dir, 'layout'));
  const w = new WorkerProcess(dir, { FAKE_MODE: 'hang', TMPDIR: path.join(dir, 'tmp') });
  t.teardown(() => w.stop());
  w.send({ arguments: hangingBuild('../app'), requestId: 7, sandboxDir: 'sandbox' });
  w.send({ arguments: cli('resolve', 'layout', '--tag', 'single'), requestId: 8 });
  const [first] = await w.take(1);
  t.equal(first?.requestId, 8, 'other requests go on while one hangs');
  t.equal(first?.exitCode, 0);
  w.send({ requestId: 7, cancel: true });
  const [cancelled] = await w.take(1);
  t.equal(cancelled?.requestId, 7);
  t.equal(cancelled?.wasCancelled, true, 'wasCancelled');
  t.match(cancelled?.output, /OCIKIT_INTERRUPTED: cancelled/);
  t.same(
    tree(path.join(dir, 'sandbox')).filter((p) => !p.startsWith('layout')),
    [],
    'no output',
  );
  t.same(readdirSync(path.join(dir, 'tmp')), [], 'no scratch directory left');
  w.send({ requestId: 7, cancel: true });
  w.send({ requestId: 99, cancel: true });
  const after = await w.request({ arguments: cli('resolve', 'layout', '--tag', 'single') });
  t.equal(after.exitCode, 0, 'a cancel for an answered or unknown request is ignored');
  t.equal(after.requestId, 0);
  t.same(w.stray, []);
});

/** serveWorker in this process, over `input`, with `run` for every request: its responses. */
async function serveInProcess(
  input: AsyncIterable<string>,
  run: Parameters<typeof serveWorker>[0]['run'],
): Promise<WorkResponse[]> {
  const responses: WorkResponse[] = [];
  await serveWorker({
    input,
    respond: (line) => void responses.push(JSON.parse(line) as WorkResponse),
    log: () => undefined,
    cwd: '/',
    run,
  });
  return responses;
}

t.test(
  'when Bazel goes away (stdin ends, stdout breaks), the worker stops and cleans up',
  async (t) => {
    const dir = t.testdir({ app: { Dockerfile: 'FROM base\n' }, tmp: {} });
    standardLayout(path.join(dir, 'layout'));
    const w = new WorkerProcess(dir, { FAKE_MODE: 'hang', TMPDIR: path.join(dir, 'tmp') });
    w.send({ arguments: hangingBuild('app'), requestId: 3 });
    // The request is under way once its scratch directory exists.
    for (let i = 0; i < 200 && readdirSync(path.join(dir, 'tmp')).length === 0; i++)
      await new Promise((r) => setTimeout(r, 25));
    w.child.stdout.destroy();
    const exited = new Promise<number | null>((r) => w.child.on('exit', (code) => r(code)));
    w.child.stdin.end();
    const timer = setTimeout(() => w.child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    t.not(code, null, 'exited by itself (not killed after 10 s)');
    t.same(readdirSync(path.join(dir, 'tmp')), [], 'the running request left no scratch directory');
    t.notOk(existsSync(path.join(dir, 'result')), 'and no output');
  },
);

t.test(
  "a cancelled request whose id comes again (Bazel's next build) gets no answer",
  async (t) => {
    const dir = t.testdir({ app: { Dockerfile: 'FROM base\n' }, tmp: {} });
    standardLayout(path.join(dir, 'layout'));
    const w = new WorkerProcess(dir, { FAKE_MODE: 'hang', TMPDIR: path.join(dir, 'tmp') });
    t.teardown(() => w.stop());
    w.send({ arguments: hangingBuild('app'), requestId: 1 });
    w.send({ arguments: cli('resolve', 'layout', '--tag', 'single'), requestId: 2 });
    t.equal((await w.take(1))[0]?.requestId, 2, 'the build hangs');
    // The interrupted build's cancel, then the next build's first request: one write.
    w.send(
      `${JSON.stringify({ requestId: 1, cancel: true })}${JSON.stringify({
        arguments: cli('resolve', 'layout', '--tag', 'multi'),
        requestId: 1,
      })}`,
    );
    const [r] = await w.take(1);
    t.match(r, { requestId: 1, exitCode: 0 }, "the new request's answer");
    t.notOk(r?.wasCancelled);
    t.equal(await w.stop(), 0);
    await t.rejects(w.take(1), /worker exited/, 'the cancelled build was never answered');
    t.same(readdirSync(path.join(dir, 'tmp')), [], 'it cleaned up');
    t.same(w.stray, []);
  },
);

t.test(
  'cancel stops hashing and deflating: verify, context --verify, pack --gzip of a large base',
  async (t) => {
    const dir = t.testdir();
    // A 2 GiB layer (sparse: zeros, no disk), so hashing it takes far longer than the cancel.
    const b = new LayoutBuilder(path.join(dir, 'big'));
    const layer = { mediaType: OCI_LAYER_GZIP, digest: `sha256:${'ab'.repeat(32)}`, size: 2 ** 31 };
    const blob = path.join(dir, 'big/blobs/sha256', 'ab'.repeat(32));
    writeFileSync(blob, '');
    truncateSync(blob, layer.size);
    b.writeIndex([tagged(b.manifestOver([layer]), 'big')]);
    const w = new WorkerProcess(dir);
    t.teardown(() => w.stop());
    const requests = [
      cli('verify', 'big'),
      cli('verify', 'big', '--json', '--jobs', '0'),
      cli('context', 'base=big:big', '--verify', '--out', 'ctx', '--buildx-version', '0.29.1'),
      // Not hashing, deflating: stopped between buffers, the queued ones dropped.
      cli('pack', 'big', '--gzip', '--out', 'big.tar.gz'),
    ];
    for (const [i, args] of requests.entries()) {
      const id = i + 1;
      w.send({ arguments: args, requestId: id });
      await new Promise((r) => setTimeout(r, 100));
      const sent = performance.now();
      w.send({ requestId: id, cancel: true });
      const [r] = await w.take(1);
      const waited = performance.now() - sent;
      t.equal(r?.requestId, id);
      t.equal(r?.wasCancelled, true, `${args[1]}: wasCancelled`);
      t.not(r?.exitCode, 0, `${args.slice(1).join(' ')}: not a success`);
      t.match(r?.output, /OCIKIT_INTERRUPTED/);
      // Hashing 2 GiB takes over a second here, so INTERRUPTED (not a digest mismatch) proves the
      // cancel stopped it; the bound is loose for busy machines.
      t.ok(waited < 5000, `answered ${Math.round(waited)} ms after the cancel`);
    }
    t.notOk(existsSync(path.join(dir, 'ctx')), 'no thin copy');
    t.same(
      readdirSync(dir).filter((n) => n.includes('big.tar.gz')),
      [],
      'no archive, no temporary sibling',
    );
    t.same(w.stray, []);
  },
);

t.test(
  "a relative --docker is the request's, and a hanging docker is killed by a cancel",
  async (t) => {
    const dir = t.testdir({ sb: {}, app: { Dockerfile: 'FROM base\n' } });
    standardLayout(path.join(dir, 'sb/layout'));
    cpSync(FAKE_DOCKER, path.join(dir, 'sb/fakedocker.mjs'));
    chmodSync(path.join(dir, 'sb/fakedocker.mjs'), 0o755);
    // A docker whose `buildx version` never answers, and leaves a child holding its pipes.
    writeFileSync(path.join(dir, 'sb/sleeper'), '#!/bin/sh\nsleep 30 &\nsleep 30\n');
    chmodSync(path.join(dir, 'sb/sleeper'), 0o755);
    const w = new WorkerProcess(dir);
    t.teardown(() => w.stop());
    const context = (docker: string, out: string): string[] =>
      cli('context', 'base=layout:multi', '--docker', docker, '--out', out, '--json');
    const found = await w.request({
      arguments: context('./fakedocker.mjs', 'c1'),
      sandboxDir: 'sb',
    });
    t.equal(found.exitCode, 0, found.output);
    t.match(found.output, /"buildx": "0\.13\.1"/, 'planned for the version ./fakedocker.mjs said');
    t.notMatch(found.output, /OCIKIT_W_BUILDX_UNKNOWN/, 'found in the sandbox, not the worker dir');
    w.send({ arguments: context('./sleeper', 'c2'), sandboxDir: 'sb', requestId: 3 });
    await new Promise((r) => setTimeout(r, 300));
    const sent = performance.now();
    w.send({ requestId: 3, cancel: true });
    const [cancelled] = await w.take(1);
    t.equal(cancelled?.wasCancelled, true);
    t.match(cancelled?.output, /OCIKIT_INTERRUPTED/);
    t.ok(performance.now() - sent < 10_000, 'answered soon after the cancel, not when sleep ends');
    t.notOk(existsSync(path.join(dir, 'sb/c2')));
  },
);

t.test('bad requests are answered, and the worker goes on', async (t) => {
  const dir = t.testdir({ 'other.mjs': 'export {};\n' });
  standardLayout(path.join(dir, 'layout'));
  const w = new WorkerProcess(dir);
  t.teardown(() => w.stop());
  const bad: [string | object, RegExp, number][] = [
    ['this is not json\n', /OCIKIT_WORKER_REQUEST_INVALID: not a request/, 1],
    ['{"arguments": ["resolve",\n', /OCIKIT_WORKER_REQUEST_INVALID: request ends inside/, 1],
    ['{"arguments": [1]}', /"arguments" is not a list of strings/, 1],
    ['{"arguments": [], "requestId": -4}', /"requestId" is not a whole number/, 1],
    ['{"arguments": [], "sandboxDir": "../x"}', /"sandboxDir" is not a relative path/, 1],
    ['[1, 2]\n', /not a request/, 1],
    ['{"arguments": ["x"], "cancel": "yes"}\n', /"cancel" is not true or false/, 1],
    ['{"argu', /stdin ended inside a request/, 1],
  ];
  const cases: [string | object, RegExp, number][] = [
    [{ arguments: cli('bogus') }, /OCIKIT_USAGE: Unknown argument: bogus/, 2],
    [{ arguments: cli() }, /OCIKIT_USAGE: Name a command/, 2],
    [{ arguments: ['@missing.params'] }, /OCIKIT_USAGE: argument file @missing.params: ENOENT/, 2],
    [
      { arguments: [path.join(dir, 'other.mjs'), 'resolve'] },
      /other.mjs is neither this ocikit .* nor the rules' helper.mjs/,
      2,
    ],
    [{ arguments: cli('verify', 'nowhere') }, /OCIKIT_LAYOUT_NOT_FOUND/, 1],
    [{ arguments: cli('resolve', 'layout', '--tag', 'multi', '--json') }, /"digest": "sha256:/, 0],
  ];
  for (const [request, expected, code] of [...bad.slice(0, -1), ...cases]) {
    const r = await w.request(request);
    t.equal(r.exitCode, code, `${JSON.stringify(request)}: exit ${code}`);
    t.match(r.output, expected);
    t.equal(r.requestId, 0);
  }
  // The last bad request is cut by the end of stdin: answered, then the worker exits cleanly.
  w.send(bad.at(-1)?.[0] as string);
  t.equal(await w.stop(), 0);
  const [last] = await w.take(1);
  t.match(last?.output, /stdin ended inside a request/);
  t.same(w.stray, []);
  t.match(w.log, /ocikit worker: not a request/, 'bad requests are logged on stderr');
});

t.test('a bad request keeps its requestId and never swallows the ones after it', async (t) => {
  const dir = t.testdir();
  standardLayout(path.join(dir, 'layout'));
  const w = new WorkerProcess(dir);
  t.teardown(() => w.stop());
  const ok = (id: number): string =>
    JSON.stringify({ arguments: cli('resolve', 'layout', '--tag', 'single'), requestId: id });
  // Over the limit in UTF-8 bytes (8 MiB of a 3-byte character), back to back with the next.
  const huge = JSON.stringify({ arguments: ['resolve', '€'.repeat(6 * 2 ** 20)], requestId: 5 });
  w.send(`${huge}${ok(6)}`);
  // Not JSON, with an id; then stray text and a request on the same line.
  w.send(`{"arguments": ["x"]], "requestId": 7}${ok(8)}\n`);
  const responses = (await w.take(5)).sort((a, b) => a.requestId - b.requestId);
  t.same(
    responses.map((r) => [r.requestId, r.exitCode]),
    [
      [0, 1],
      [5, 1],
      [6, 0],
      [7, 1],
      [8, 0],
    ],
  );
  t.match(responses[1]?.output, /request longer than 16777216 bytes/);
  // `{"arguments": ["x"]]` ends the object (not JSON, no id in it); the rest, with the id, is
  // stray text up to the next `{`.
  t.match(responses[0]?.output, /request is not JSON/);
  t.match(responses[3]?.output, /not a request: .*requestId.*7/);
  t.same(w.stray, []);
});

t.test('a request that throws (a bug) is answered with exit 1; the next one runs', async (t) => {
  const input = (async function* () {
    yield '{"arguments":["boom"],"requestId":1}{"arguments":["fine"],"requestId":2}';
    yield '{"arguments":["fine"]}\n';
  })();
  const responses = await serveInProcess(input, async (argv, ctx) => {
    if (argv[0] === 'boom') throw new TypeError('x is undefined');
    ctx.write(`ran in ${ctx.cwd}\n`);
    return 0;
  });
  t.same(
    responses.sort((a, b) => a.requestId - b.requestId),
    [
      { exitCode: 0, output: 'ran in /\n', requestId: 0 },
      {
        exitCode: 1,
        output:
          'ocikit: error OCIKIT_INTERNAL: the worker failed on this request: x is undefined\n  hint: This is a bug in ocikit; the worker keeps serving. Report it with the arguments.\n',
        requestId: 1,
      },
      { exitCode: 0, output: 'ran in /\n', requestId: 2 },
    ],
  );
});

t.test('10,000 requests: memory stays bounded, nothing leaks between them', async (t) => {
  const dir = t.testdir();
  const s = standardLayout(path.join(dir, 'layout'));
  // A small heap, so V8 collects instead of growing it (on a busy machine it otherwise grows
  // the heap rather than pause, and resident memory says nothing): a leak of ~2 KB a request
  // runs out of it (the worker dies, take() throws), and resident memory must stay flat.
  const w = new WorkerProcess(dir, {}, ['--max-old-space-size=16', '--max-semi-space-size=1']);
  t.teardown(() => w.stop());
  const total = 10_000;
  const window = 64;
  const rss: number[] = [];
  let sent = 0;
  let failures = 0;
  const send = (): void => {
    const id = ++sent;
    const tag = id % 10 === 0 ? 'nope' : 'multi';
    w.send({
      arguments: cli('resolve', 'layout', '--tag', tag, '--platform', 'linux/amd64'),
      requestId: id,
      verbosity: id % 1000 === 0 ? 10 : 0,
    });
  };
  for (let i = 0; i < window; i++) send();
  for (let done = 0; done < total;) {
    const [r] = await w.take(1);
    done++;
    if (r === undefined) break;
    const want = r.requestId % 10 === 0 ? 1 : 0;
    const digestOk = want === 1 || r.output.startsWith(`${s.amd64.digest}\n`);
    if (r.exitCode !== want || !digestOk) failures++;
    const m = /(\d+) MiB resident/.exec(r.output);
    if (m !== null) rss.push(Number(m[1]));
    if (sent < total) send();
  }
  t.equal(failures, 0, 'every request answered as it would be on its own');
  t.equal(rss.length, 10);
  const grown = (rss.at(-1) ?? 0) - (rss[1] ?? 0);
  t.ok(grown < 12, `resident memory from request 2,000 to 10,000: ${rss.join(', ')} MiB`);
  t.same(w.stray, []);
});

t.test("each request sweeps dead processes' scratch, not only the worker's first", async (t) => {
  const dir = t.testdir();
  standardLayout(path.join(dir, 'layout'));
  const tmp = path.join(dir, 'tmp');
  mkdirSync(tmp);
  const w = new WorkerProcess(dir, { TMPDIR: tmp });
  t.teardown(() => w.stop());
  const pack = (out: string): Promise<Response> =>
    w.request({ arguments: cli('pack', 'layout', '--out', out), requestId: 0 });
  t.equal((await pack('one.tar')).exitCode, 0);
  // A run killed after the worker's first request, between its commit and its scratch removal.
  const host = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
  const leftover = `ocikit-build-${host}-${dead}-AbC123`;
  mkdirSync(path.join(tmp, leftover, 'contexts'), { recursive: true });
  const live = `ocikit-build-${host}-${process.pid}-AbC123`;
  mkdirSync(path.join(tmp, live));
  const second = await pack('two.tar');
  t.equal(second.exitCode, 0, second.output);
  t.same(readdirSync(tmp), [live], "the dead run's scratch is gone, a live one's stays");
});

t.test('argument files: @FILE lines, the script first line', async (t) => {
  const dir = t.testdir({ src: { 'a.txt': 'A\n' } });
  const s = standardLayout(path.join(dir, 'layout'));
  const run = (...args: string[]): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [BUNDLE, ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  writeFileSync(path.join(dir, 'plain.params'), 'resolve\nlayout\n--tag\nmulti\n');
  t.same(run('@plain.params'), { code: 0, stdout: `${s.multi.digest}\n`, stderr: '' });
  // As run_node writes them: the bundle's path first, from two Args (two files).
  writeFileSync(path.join(dir, 'a.params'), `${BUNDLE}\nresolve\nlayout\n`);
  writeFileSync(path.join(dir, 'b.params'), '--tag\nsingle\n');
  t.same(run('@a.params', '@b.params'), { code: 0, stdout: `${s.single.digest}\n`, stderr: '' });
  // A copy of the bundle (a sandbox that copies inputs) is the bundle too.
  cpSync(BUNDLE, path.join(dir, 'ocikit.cjs'));
  writeFileSync(path.join(dir, 'c.params'), 'ocikit.cjs\nresolve\nlayout\n--tag\nsingle\n');
  t.equal(run('@c.params').code, 0);
  // The rules' helper, in the bundle's process.
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([['src/a.txt', 'x/a.txt']]));
  writeFileSync(path.join(dir, 'h.params'), `${HELPER}\nstage\n--out\nstaged\n--manifest\n`);
  writeFileSync(path.join(dir, 'h2.params'), 'manifest.json\n');
  t.same(run('@h.params', '@h2.params'), { code: 0, stdout: '', stderr: '' });
  t.equal(readFileSync(path.join(dir, 'staged/x/a.txt'), 'utf8'), 'A\n');
  // Its other commands run as a child process: the helper's own usage error, exit 2.
  writeFileSync(path.join(dir, 'h3.params'), `${HELPER}\nbuild\n`);
  const child = run('@h3.params');
  t.equal(child.code, 2, 'a helper command that drives docker runs as its own process');
  t.match(child.stderr, /^ocikit: error OCIKIT_USAGE: build: --cli is required\n/);
  const missing = run('@nope.params', '--json');
  t.equal(missing.code, 2);
  t.match(JSON.parse(missing.stdout), {
    error: { code: 'OCIKIT_USAGE', message: 'argument file @nope.params: ENOENT' },
  });
  t.equal(run('resolve', '@layout').code, 1, 'only leading arguments are argument files');
  t.notOk(existsSync(path.join(dir, '@layout')));
});

t.test('--persistent_worker is the worker only as the whole command line', async (t) => {
  const dir = t.testdir();
  standardLayout(path.join(dir, 'layout'));
  for (const args of [
    ['resolve', 'layout', '--tag', 'single', '--persistent_worker'],
    ['--persistent_worker', 'resolve', 'layout'],
  ]) {
    const r = spawnSync(process.execPath, [BUNDLE, ...args], {
      cwd: dir,
      encoding: 'utf8',
      input: '',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    });
    t.equal(r.status, 2, args.join(' '));
    t.match(r.stderr, /OCIKIT_USAGE/);
  }
});

t.test(
  'a request id that comes again while its request runs: one answer, both stopped',
  async (t) => {
    let stopped = 0;
    let release: () => void = () => undefined;
    const sent = new Promise<void>((r) => (release = r));
    const input = (async function* () {
      yield '{"arguments":["wait"],"requestId":4}';
      await new Promise((r) => setTimeout(r, 20));
      yield '{"arguments":["fine"],"requestId":4}{"arguments":["fine"],"requestId":5}';
      release();
    })();
    const responses = await serveInProcess(input, async (argv, ctx) => {
      if (argv[0] !== 'wait') return 0;
      await sent;
      await new Promise<void>((r) => {
        if (ctx.signal.aborted) r();
        ctx.signal.addEventListener('abort', () => r());
      });
      stopped++;
      return 130;
    });
    t.equal(stopped, 1, 'the running request was cancelled');
    t.same(
      responses.map((r) => [r.requestId, r.exitCode]).sort(),
      [
        [4, 1],
        [5, 0],
      ],
      'one answer for id 4 (the refusal), none from the stopped request',
    );
    t.match(
      responses.find((r) => r.requestId === 4)?.output,
      /request 4 came again while it was running/,
    );
  },
);

t.test('requests are split alike however stdin is cut into chunks', async (t) => {
  const stream = [
    '{"arguments":["a\\"}{[","b\\\\"],"requestId":1}',
    '  \n\t{"arguments":["€𝄞"],"inputs":[{"path":"p","digest":"d"}],"requestId":2}',
    'junk here {"arguments":[],"requestId":3}',
    '{"arguments":["x"]]stray "requestId": 9}\n',
    '{"arguments":["line\ncut"],"requestId":4}',
    '{"arguments":["\\\ncut"],"requestId":5}',
    '{"arguments":[]}',
    '{"open":',
  ].join('');
  const events = (chunks: string[]): string[] => {
    const out: string[] = [];
    const s = new RequestSplitter(
      (text) => out.push(`request ${text}`),
      (why, text) => out.push(`garbage ${why} | ${text}`),
    );
    for (const c of chunks) s.push(c);
    s.end();
    return out;
  };
  const whole = events([stream]);
  t.same(whole, [
    'request {"arguments":["a\\"}{[","b\\\\"],"requestId":1}',
    'request {"arguments":["€𝄞"],"inputs":[{"path":"p","digest":"d"}],"requestId":2}',
    'garbage not a request: "junk here" | junk here ',
    'request {"arguments":[],"requestId":3}',
    'request {"arguments":["x"]]',
    'garbage not a request: "stray \\"requestId\\": 9}" | stray "requestId": 9}',
    'garbage request ends inside its JSON object: "{\\"arguments\\":[\\"line" | {"arguments":["line',
    'garbage not a request: "cut\\"],\\"requestId\\":4}" | cut"],"requestId":4}',
    'garbage request ends inside its JSON object: "{\\"arguments\\":[\\"\\\\" | {"arguments":["\\',
    'garbage not a request: "cut\\"],\\"requestId\\":5}" | cut"],"requestId":5}',
    'request {"arguments":[]}',
    'garbage stdin ended inside a request: "{\\"open\\":" | {"open":',
  ]);
  t.same(events([...stream]), whole, 'one character at a time');
  for (const size of [2, 3, 7, 64])
    t.same(
      events(
        Array.from({ length: Math.ceil(stream.length / size) }, (_, i) =>
          stream.slice(i * size, (i + 1) * size),
        ),
      ),
      whole,
      `chunks of ${size}`,
    );
});
