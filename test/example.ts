import { cpSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ROOT, cli } from './helpers/cli.js';
import { writeExampleLayout } from './helpers/example.js';
import { snapshotTree } from './helpers/tree.js';

const EXAMPLE = path.join(ROOT, 'examples/hello');
const contentOnly = (lines: string[]): string[] =>
  lines.map((l) => l.replace(/ mode=\d+ mtime=[\d.]+/, ''));

t.test('examples/hello is exactly what the generator writes (deterministic)', async (t) => {
  const dir = t.testdir();
  writeExampleLayout(dir);
  if (process.env['OCIKIT_UPDATE_EXAMPLE'] === '1') cpSync(dir, EXAMPLE, { recursive: true });
  t.same(
    contentOnly(snapshotTree(EXAMPLE)),
    contentOnly(snapshotTree(dir)),
    'regenerate with OCIKIT_UPDATE_EXAMPLE=1 tap test/example.ts',
  );
});

t.test('the README commands work on the example', async (t) => {
  const inspect = await cli(['inspect', 'examples/hello'], ROOT);
  t.equal(inspect.code, 0, inspect.stderr);
  t.match(inspect.stdout, /hello\s+\w{12}\s+index\s+linux\/amd64\s+\w{12}\s+1\s/);
  t.match(inspect.stdout, /linux\/arm64\s+\w{12}\s+0\s+0 B/);
  const resolved = await cli(
    ['resolve', 'examples/hello', '--tag', 'hello', '--platform', 'linux/arm64'],
    ROOT,
  );
  t.equal(resolved.code, 0, resolved.stderr);
  t.match(resolved.stdout, /^sha256:[a-f0-9]{64}\n$/);
  const verified = await cli(['verify', 'examples/hello'], ROOT);
  t.equal(verified.code, 0, verified.stdout);
  t.match(verified.stdout, /^ok: 6 blobs/m);
});
