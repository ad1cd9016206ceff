/**
 * Signals (issue 9), a sample of scripts/stress-signals.mjs so CI runs it: for every writing
 * command, 5 trials per signal (SIGINT, SIGTERM, SIGHUP, SIGKILL) on a small workload. Each
 * trial starts the bundled CLI, signals it at a random moment and checks that it exited as
 * interrupted (or finished first), that every output is absent or complete and valid, and
 * that no temporary sibling, created parent, scratch directory or process is left (after a
 * SIGKILL: once one more run to the same destination has swept it). The full run
 * (`node scripts/stress-signals.mjs`, 100 trials per command) is in the report.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ROOT } from './helpers/cli.js';
import { manyBlobLayout, runBundle } from './helpers/outputs.js';
import { CLEAN_ENV } from './helpers/tools.js';

const COMMANDS = [
  'context',
  'buildx-args',
  'build',
  'index',
  'pack',
  'pack-gzip',
  'unpack',
  'resolve-json-out',
];
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL'];
const PER_SIGNAL = 5;

t.test(`stress sample: ${PER_SIGNAL} trials per command and signal`, async (t) => {
  const seed = Date.now() % 2 ** 31;
  const argv = [
    ...CLEAN_ENV,
    process.execPath,
    path.join(ROOT, 'scripts/stress-signals.mjs'),
    '--trials',
    String(PER_SIGNAL * SIGNALS.length),
    '--jobs',
    '2',
    '--workload',
    'small',
    '--seed',
    String(seed),
  ];
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve) => {
      const child = spawn(argv[0] as string, argv.slice(1), {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    },
  );
  t.comment(`seed ${seed} (rerun: node scripts/stress-signals.mjs --seed ${seed} ...)`);
  for (const line of r.stdout.trim().split('\n')) t.comment(line);
  const failures = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('FAIL') || l.startsWith('  kept'));
  t.equal(r.code, 0, 'no trial failed', { failures, stderr: r.stderr.slice(-4000) });
  const total = COMMANDS.length * PER_SIGNAL * SIGNALS.length;
  t.match(r.stdout, new RegExp(`^${total} passed, 0 failed$`, 'm'), `${total} trials passed`);
  for (const c of COMMANDS) {
    t.match(r.stdout, new RegExp(`^${c}: ${PER_SIGNAL * SIGNALS.length} trials`, 'm'), c);
  }
  for (const s of SIGNALS) {
    const lines = r.stdout.split('\n').filter((l) => l.startsWith(`  ${s}: `));
    t.equal(lines.length, COMMANDS.length, `${s} was sent to every command`);
  }
});

t.test("kill -9 leftovers: the next run sweeps a dead run's temporary siblings", async (t) => {
  const root = t.testdir();
  const layout = path.join(root, 'layout');
  manyBlobLayout(layout, 2);
  // What kill -9 leaves: a temporary sibling named for this host and a process that is gone.
  const host = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
  const out = path.join(root, 'out');
  mkdirSync(out);
  const stale = (name: string): string => `.${name}.ocikit-tmp-${host}-${dead}-0123456789ab`;
  // A file output killed between link(2) and the unlink of its temporary name: both exist.
  writeFileSync(path.join(out, 'image.tar'), 'committed');
  writeFileSync(path.join(out, stale('image.tar')), 'committed');
  // A directory output killed while it was written.
  mkdirSync(path.join(out, stale('unpacked'), 'blobs'), { recursive: true });
  // A live process's temporary sibling is never touched.
  const live = `.image.tar.ocikit-tmp-${host}-${process.pid}-0123456789ab`;
  writeFileSync(path.join(out, live), 'in progress');

  // A build killed between committing --out and removing its scratch directory.
  const tmp = path.join(root, 'tmp');
  mkdirSync(path.join(tmp, `ocikit-build-${host}-${dead}-AbC123`, 'contexts'), { recursive: true });
  const liveScratch = `ocikit-build-${host}-${process.pid}-AbC123`;
  mkdirSync(path.join(tmp, liveScratch));

  const again = await runBundle(['--json', 'pack', layout, '--out', path.join(out, 'image.tar')], {
    env: { TMPDIR: tmp },
  });
  t.equal(again.code, 1, 'the output exists: the run fails');
  t.same(readdirSync(tmp), [liveScratch], "the dead run's scratch directory is gone too");
  t.match(again.stdout, /OCIKIT_OUT_NOT_EMPTY/);
  t.notOk(
    existsSync(path.join(out, stale('image.tar'))),
    "but the dead run's temporary file is gone",
  );
  t.ok(existsSync(path.join(out, live)), "a live process's is kept");

  const archive = path.join(root, 'image.tar');
  t.equal((await runBundle(['pack', layout, '--out', archive])).code, 0);
  const unpacked = await runBundle(['unpack', archive, '--out', path.join(out, 'unpacked')]);
  t.equal(unpacked.code, 0, unpacked.stderr);
  t.same(readdirSync(out).sort(), [live, 'image.tar', 'unpacked'].sort(), 'swept when opened');
});
