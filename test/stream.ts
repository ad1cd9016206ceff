import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { RawJsonStream, type StreamEvent } from '../src/buildx/stream.js';
import { ROOT } from './helpers/cli.js';

const fixture = (name: string) =>
  readFileSync(path.join(ROOT, 'test/fixtures/rawjson', name), 'utf8');

function feed(
  text: string,
  chunk: number,
): { s: RawJsonStream; events: StreamEvent[]; rest: string | undefined } {
  const events: StreamEvent[] = [];
  const s = new RawJsonStream((e) => events.push(e));
  for (let i = 0; i < text.length; i += chunk) s.push(text.slice(i, i + chunk));
  return { s, events, rest: s.end() };
}

t.test('a successful build (buildx 0.13.1): every step completed, no errors', async (t) => {
  const text = fixture('buildx-0.13.1-ok.stderr');
  for (const chunk of [1, 7, 64, 4096, text.length]) {
    const { s, rest } = feed(text, chunk);
    t.equal(rest, undefined, `chunk ${chunk}: nothing left open`);
    t.same(s.failedVertexes(), []);
    t.same(s.unfinishedVertexes(), [], `chunk ${chunk}`);
    t.same(s.errorLines(), []);
    t.ok([...s.vertexes.values()].some((v) => v.name === '[1/1] COPY hello.txt /'));
  }
});

t.test('a failed solve: the vertex error, then plain text on the same stream', async (t) => {
  const { s } = feed(fixture('buildx-0.13.1-copy-missing.stderr'), 33);
  const [failed] = s.failedVertexes();
  t.equal(failed?.name, '[1/1] COPY missing.txt /');
  t.match(failed?.error, /"\/missing.txt": not found/);
  t.match(s.errorLines()[0], /^ERROR: failed to solve: .*not found/);
  t.ok(
    s.text.some((l) => l.includes('>>> COPY missing.txt /')),
    'the Dockerfile excerpt is kept as text',
  );
});

t.test('a stream cut in the middle of an object is reported as unfinished', async (t) => {
  const text = fixture('buildx-0.13.1-multi.stderr');
  const cut = text.slice(0, Math.floor(text.length / 2));
  const { s, rest } = feed(cut, 100);
  t.type(rest, 'string', 'the open object is returned');
  t.ok(s.vertexes.size > 0);
  const whole = feed(text, 100);
  t.equal(whole.rest, undefined);
  t.same(whole.s.unfinishedVertexes(), []);
});

t.test('a stream that stops between objects leaves started steps unfinished', async (t) => {
  const text = [
    '{\n  "vertexes": [\n    {\n      "digest": "sha256:a",\n      "name": "[1/2] RUN make",\n      "started": "2026-01-01T00:00:00Z"\n    }\n  ]\n}\n',
  ].join('');
  const { s, rest } = feed(text, 5);
  t.equal(rest, undefined);
  t.same(
    s.unfinishedVertexes().map((v) => v.name),
    ['[1/2] RUN make'],
  );
});

t.test('logs are decoded per step, split into lines across chunks; warnings decoded', async (t) => {
  const b64 = (x: string) => Buffer.from(x).toString('base64');
  const text =
    `{"vertexes":[{"digest":"sha256:r","name":"[2/2] RUN false","started":"x"}]}\n` +
    `{"logs":[{"vertex":"sha256:r","stream":1,"data":"${b64('line one\nline t')}"}]}\n` +
    `{"logs":[{"vertex":"sha256:r","stream":2,"data":"${b64('wo\n{not json}\n')}"}]}\n` +
    `{"warnings":[{"vertex":"sha256:r","level":1,"short":"${b64('JSONArgsRecommended: use JSON')}"}]}\n` +
    `{"vertexes":[{"digest":"sha256:r","name":"[2/2] RUN false","started":"x","completed":"y","error":"process \\"/bin/sh -c false\\" did not complete successfully: exit code: 1"}]}\n` +
    'ERROR: failed to solve: process "/bin/sh -c false" did not complete successfully: exit code: 1\n';
  const { s, events } = feed(text, 3);
  const v = s.vertexes.get('sha256:r');
  t.same(v?.logs, ['line one', 'line two', '{not json}']);
  t.same(s.warnings, ['JSONArgsRecommended: use JSON']);
  t.match(v?.error, /exit code: 1/);
  t.equal(s.errorLines().length, 1);
  t.ok(events.some((e) => e.type === 'log' && e.line === 'line two'));
});

t.test('text that is not JSON, and malformed objects, become text lines', async (t) => {
  const { s } = feed('#0 building with "default"\n{ broken json\n}\nERROR: boom\n', 4);
  t.same(s.text, ['#0 building with "default"', '{ broken json', '}', 'ERROR: boom']);
});
