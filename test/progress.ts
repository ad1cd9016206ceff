import t from 'tap';
import { buildProgress } from '../src/cli/build-progress.js';
import type { CliIo } from '../src/cli/io.js';
import { PROGRESS_MIN_BYTES, progressBar } from '../src/cli/progress.js';
import type { Vertex } from '../src/buildx/stream.js';

function io(tty: boolean): { io: CliIo; err: () => string } {
  let err = '';
  return {
    io: { stdout: () => undefined, stderr: (s) => (err += s), stderrIsTTY: tty, cwd: '/', env: {} },
    err: () => err,
  };
}

t.test('verify progress bar: only on a terminal, only for long work', async (t) => {
  const tty = io(true);
  const bar = progressBar(tty.io, 'verify');
  bar.update({ total: PROGRESS_MIN_BYTES * 4, done: 0 });
  bar.update({ total: PROGRESS_MIN_BYTES * 4, done: PROGRESS_MIN_BYTES * 4 });
  bar.finish();
  t.match(tty.err(), /\rverify \[ +\] +0% /);
  t.match(tty.err(), /100% 1\.0 GiB\/1\.0 GiB/);
  t.ok(tty.err().endsWith('\n'));
  const pipe = io(false);
  const quiet = progressBar(pipe.io, 'verify');
  quiet.update({ total: PROGRESS_MIN_BYTES * 4, done: 1 });
  quiet.finish();
  t.equal(pipe.err(), '', 'nothing when stderr is not a terminal');
  const small = io(true);
  progressBar(small.io, 'verify').update({ total: 1024, done: 1024 });
  t.equal(small.err(), '', 'nothing for small work');
});

t.test('build progress: plain lines, terminal view, json, quiet', async (t) => {
  const v = (over: Partial<Vertex>): Vertex => ({
    digest: 'sha256:a',
    name: '[1/2] COPY x /',
    inputs: [],
    cached: false,
    logs: [],
    ...over,
  });
  const events = [
    { type: 'vertex' as const, vertex: v({}) },
    { type: 'vertex' as const, vertex: v({ started: '2026-01-01T00:00:00Z' }) },
    { type: 'log' as const, vertex: 'sha256:a', line: 'copying' },
    {
      type: 'vertex' as const,
      vertex: v({ started: '2026-01-01T00:00:00Z', completed: '2026-01-01T00:00:01.5Z' }),
    },
    {
      type: 'vertex' as const,
      vertex: v({
        digest: 'sha256:b',
        name: '[2/2] RUN make',
        cached: true,
        started: 'x',
        completed: 'y',
      }),
    },
    {
      type: 'vertex' as const,
      vertex: v({
        digest: 'sha256:c',
        name: '[3/3] RUN false',
        started: 'x',
        completed: 'y',
        error: 'exit code: 1',
      }),
    },
    { type: 'warning' as const, message: 'JSONArgsRecommended' },
    { type: 'text' as const, line: 'ERROR: failed to solve' },
  ];
  const plain = io(false);
  const p = buildProgress(plain.io, 'auto');
  for (const e of events) p.onEvent(e);
  p.finish();
  t.equal(
    plain.err(),
    [
      '#1 [1/2] COPY x /',
      '#1 copying',
      '#1 DONE 1.5s',
      '#2 [2/2] RUN make',
      '#2 CACHED',
      '#3 [3/3] RUN false',
      '#3 ERROR: exit code: 1',
      'WARNING: JSONArgsRecommended',
      'ERROR: failed to solve',
      '',
    ].join('\n'),
  );
  const tty = io(true);
  const live = buildProgress(tty.io, 'auto');
  for (const e of events.slice(0, 2)) live.onEvent(e);
  t.match(tty.err(), /running: \[1\/2\] COPY x \//, 'a status line while steps run');
  for (const e of events.slice(2)) live.onEvent(e);
  live.finish();
  t.match(tty.err(), /#1 \[1\/2\] COPY x \/ DONE 1\.5s\n/);
  const json = io(false);
  const j = buildProgress(json.io, 'json');
  for (const e of events) j.onEvent(e);
  const lines = json
    .err()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string });
  t.equal(lines.length, events.length);
  const quiet = io(true);
  const q = buildProgress(quiet.io, 'quiet');
  for (const e of events) q.onEvent(e);
  t.equal(quiet.err(), '');
});
