/**
 * The V8 code cache of the bundle (src/cli/code-cache.ts): where it lives, that it is made once
 * and then used, that it never changes what a command prints, that a directory others may write
 * to is never read, that a bad cache file is replaced, that old files are pruned, and that runs
 * under other node flags keep their own file.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { cacheDir, commandKey, flagsKey } from '../src/cli/code-cache.js';
import { BUNDLE, ROOT } from './helpers/cli.js';
import { standardLayout } from './helpers/layout-builder.js';

/** Run the bundle with a clean environment plus `env`; stdout, stderr, exit code. */
function run(
  args: string[],
  env: Record<string, string>,
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BUNDLE, ...args], {
    encoding: 'utf8',
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// A command that loads the CLI (`--version` alone is answered before it is loaded).
const layoutDir = mkdtempSync(path.join(os.tmpdir(), 'ocikit-code-cache-'));
t.teardown(() => rmSync(layoutDir, { recursive: true, force: true }));
standardLayout(layoutDir);
const CMD = ['resolve', layoutDir, '--tag', 'single'];

const cacheFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.v8'))
    .sort();

t.test('where the cache lives', async (t) => {
  t.equal(cacheDir({ OCIKIT_COMPILE_CACHE: '/c', NODE_COMPILE_CACHE: '/n' }), '/c');
  for (const off of ['off', 'OFF', '0', 'false', 'no'])
    t.equal(cacheDir({ OCIKIT_COMPILE_CACHE: off, NODE_COMPILE_CACHE: '/n' }), undefined, off);
  t.equal(cacheDir({ OCIKIT_COMPILE_CACHE: '', NODE_COMPILE_CACHE: '/n' }), '/n');
  t.equal(cacheDir({ XDG_CACHE_HOME: '/x' }), '/x/ocikit');
  t.match(cacheDir({ XDG_CACHE_HOME: 'relative' }), /\/\.cache\/ocikit$/, 'relative XDG ignored');
  t.match(cacheDir({}), /\/\.cache\/ocikit$/);
});

t.test('the flags part of the file name', async (t) => {
  t.equal(flagsKey([], undefined), '', 'no flags: no part');
  t.equal(flagsKey([], ''), '');
  const a = flagsKey(['--max-old-space-size=64'], '');
  t.match(a, /^-f[0-9a-f]{8}$/);
  t.equal(flagsKey(['--max-old-space-size=64'], undefined), a, 'stable');
  t.not(flagsKey([], '--max-old-space-size=64'), '', 'NODE_OPTIONS counts');
  t.not(flagsKey(['--max-old-space-size=32'], ''), a, 'other flags, other file');
});

t.test('a file per command: what one command compiled is not read by another', async (t) => {
  t.equal(commandKey(['resolve', 'l', '--tag', 'v1']), 'resolve');
  t.equal(commandKey(['--json', 'context', 'b=l']), 'context');
  t.equal(commandKey(['pack', 'l', '--help']), 'help', 'yargs is loaded for help');
  t.equal(commandKey(['-h']), 'help');
  t.equal(commandKey([]), 'other');
  t.equal(commandKey(['@args.params']), 'other');
  t.equal(commandKey(['Resolve']), 'other', 'not a command name');
  t.equal(commandKey(['a'.repeat(17)]), 'other');
  const dir = t.testdir({ cache: {} });
  const cache = path.join(dir, 'cache');
  chmodSync(cache, 0o700);
  t.equal(run(CMD, { OCIKIT_COMPILE_CACHE: cache }).code, 0);
  t.equal(run(['inspect', layoutDir], { OCIKIT_COMPILE_CACHE: cache }).code, 0);
  t.equal(run(['--help'], { OCIKIT_COMPILE_CACHE: cache }).code, 0);
  t.same(
    cacheFiles(cache).map((n) => n.replace(/^.*-(\w+)\.v8$/, '$1')),
    ['help', 'inspect', 'resolve'],
  );
});

t.test('made once, then used; output the same with and without it', async (t) => {
  const dir = t.testdir({ cache: {} });
  standardLayout(path.join(dir, 'layout'));
  const cache = path.join(dir, 'cache');
  chmodSync(cache, 0o700);
  const args = ['resolve', path.join(dir, 'layout'), '--tag', 'multi', '--json'];
  const plain = run(args, { OCIKIT_COMPILE_CACHE: 'off' });
  t.equal(plain.code, 0, plain.stderr);
  t.same(cacheFiles(cache), [], 'off: nothing written');

  const first = run(args, { OCIKIT_COMPILE_CACHE: cache });
  t.same(first, plain, 'first run (makes the cache): same output');
  const files = cacheFiles(cache);
  t.equal(files.length, 1, 'one cache file');
  const file = path.join(cache, files[0] as string);
  t.equal(statSync(file).mode & 0o777, 0o600, 'readable by this user only');
  t.same(
    readdirSync(cache).filter((n) => !n.endsWith('.v8')),
    [],
    'no temporary file left',
  );
  const past = new Date(Date.now() - 60_000);
  utimesSync(file, past, past);
  const made = statSync(file).mtimeMs;
  const second = run(args, { OCIKIT_COMPILE_CACHE: cache });
  t.same(second, plain, 'second run (uses the cache): same output');
  t.equal(statSync(file).mtimeMs, made, 'an accepted cache is not rewritten');

  // Errors print the same too.
  const bad = ['resolve', path.join(dir, 'nowhere')];
  t.same(run(bad, { OCIKIT_COMPILE_CACHE: cache }), run(bad, { OCIKIT_COMPILE_CACHE: 'off' }));
});

t.test(
  'NODE_COMPILE_CACHE and XDG_CACHE_HOME are used when OCIKIT_COMPILE_CACHE is unset',
  async (t) => {
    const dir = t.testdir({ node: {}, xdg: {} });
    chmodSync(path.join(dir, 'node'), 0o700);
    t.equal(run(CMD, { NODE_COMPILE_CACHE: path.join(dir, 'node') }).code, 0);
    t.equal(cacheFiles(path.join(dir, 'node')).length, 1);
    t.equal(run(CMD, { XDG_CACHE_HOME: path.join(dir, 'xdg') }).code, 0);
    t.equal(cacheFiles(path.join(dir, 'xdg', 'ocikit')).length, 1, 'made, with its directory');
    t.equal(statSync(path.join(dir, 'xdg', 'ocikit')).mode & 0o777, 0o700);
  },
);

t.test('a directory others may write to is neither read nor written', async (t) => {
  const dir = t.testdir({ shared: {} });
  const shared = path.join(dir, 'shared');
  chmodSync(shared, 0o777);
  // A planted "cache" for exactly this build: if it were read, V8 would reject it (garbage),
  // so prove it is not even written to instead.
  const r = run(CMD, { OCIKIT_COMPILE_CACHE: shared });
  t.equal(r.code, 0, r.stderr);
  t.same(readdirSync(shared), [], 'nothing written there');
  chmodSync(shared, 0o775);
  t.equal(run(CMD, { OCIKIT_COMPILE_CACHE: shared }).code, 0);
  t.same(readdirSync(shared), [], 'group-writable: the same');
});

t.test('a cache file V8 rejects is replaced; the command is not affected', async (t) => {
  const dir = t.testdir({ cache: {} });
  const cache = path.join(dir, 'cache');
  chmodSync(cache, 0o700);
  t.equal(run(CMD, { OCIKIT_COMPILE_CACHE: cache }).code, 0);
  const [name] = cacheFiles(cache);
  const file = path.join(cache, name as string);
  writeFileSync(file, 'not a code cache', { mode: 0o600 });
  const r = run(CMD, { OCIKIT_COMPILE_CACHE: cache });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '');
  t.ok(statSync(file).size > 1000, 'rewritten with a real cache');
  const past = new Date(Date.now() - 60_000);
  utimesSync(file, past, past);
  const rewritten = statSync(file).mtimeMs;
  t.equal(run(CMD, { OCIKIT_COMPILE_CACHE: cache }).code, 0);
  t.equal(statSync(file).mtimeMs, rewritten, 'which the next run accepts');
});

t.test('a cache directory that cannot be written costs nothing but the cache', async (t) => {
  const dir = t.testdir();
  // A file where the directory should be, or its parent (a mode would not stop root).
  writeFileSync(path.join(dir, 'file'), '');
  for (const where of [path.join(dir, 'file'), path.join(dir, 'file', 'sub')]) {
    const r = run(CMD, { OCIKIT_COMPILE_CACHE: where });
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stderr, '', `${path.relative(dir, where)}: no word about it`);
  }
});

t.test('old cache files are pruned, the newest kept', async (t) => {
  const dir = t.testdir({ cache: {} });
  const cache = path.join(dir, 'cache');
  chmodSync(cache, 0o700);
  const old = Array.from(
    { length: 30 },
    (_, i) => `ocikit-old${String(i).padStart(2, '0')}-v0-x64.v8`,
  );
  for (const [i, n] of old.entries()) {
    writeFileSync(path.join(cache, n), 'x', { mode: 0o600 });
    const when = new Date(Date.now() - (i + 1) * 60_000);
    utimesSync(path.join(cache, n), when, when);
  }
  writeFileSync(path.join(cache, 'unrelated.txt'), 'kept');
  t.equal(run(CMD, { OCIKIT_COMPILE_CACHE: cache }).code, 0);
  const kept = cacheFiles(cache);
  t.equal(kept.length, 24, '24 cache files at most');
  t.same(
    kept.filter((n) => n.startsWith('ocikit-old')),
    old.slice(0, 23).sort(),
    'the newest old ones kept, beside the new one',
  );
  t.ok(readdirSync(cache).includes('unrelated.txt'), "other files are not the cache's to prune");
});

t.test('runs under other node flags keep a file each', async (t) => {
  const dir = t.testdir({ cache: {} });
  const cache = path.join(dir, 'cache');
  chmodSync(cache, 0o700);
  const env = { OCIKIT_COMPILE_CACHE: cache };
  const flagged = { ...env, NODE_OPTIONS: '--max-old-space-size=96' };
  t.equal(run(CMD, env).code, 0);
  t.equal(run(CMD, flagged).code, 0);
  const files = cacheFiles(cache);
  t.equal(files.length, 2, 'two files');
  const mtimes = () => files.map((n) => statSync(path.join(cache, n)).mtimeMs);
  const before = mtimes();
  for (let i = 0; i < 2; i++) {
    t.equal(run(CMD, env).code, 0);
    t.equal(run(CMD, flagged).code, 0);
  }
  t.same(mtimes(), before, 'alternating runs rewrite neither');
  t.same(cacheFiles(cache), files);
});

// The directory is made by the first run that stores, with the parents it needs.
t.test('the cache directory is made, private', async (t) => {
  const dir = t.testdir();
  const cache = path.join(dir, 'a', 'b');
  mkdirSync(path.join(dir, 'a'), { mode: 0o700 });
  t.equal(run(CMD, { OCIKIT_COMPILE_CACHE: cache }).code, 0);
  t.equal(statSync(cache).mode & 0o777, 0o700);
  t.equal(cacheFiles(cache).length, 1);
});
