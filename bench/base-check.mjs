#!/usr/bin/env node
// Bench: the base check that context, buildx-args and build run before buildx (every blob of
// the selected image present, a regular file or an allowed symlink, of its declared size), in
// process, on one image of 2,000 small layers (bench/layout.mjs writeBlobsLayout, the generator
// of bench/context.mjs). Rows, each the median of many runs:
//   first         the first checkBase of this process (one sample, JIT cold: what one CLI run
//                 pays; the resolve before it read and parsed the manifest)
//   check         checkBase on a layout already opened and resolved (what prepareContexts adds)
//   marginal      openLayout + resolveBase minus openLayout + resolve, fresh Layout each run (the
//                 process keeps validated documents, src/layout/documents.ts: as in a worker)
//   --verify      checkBase with hashing (informational)
// The rows are measured interleaved (one call of each per round), so the VM's drift hits them
// alike. Wall and CPU time (process.cpuUsage) are both shown: on a busy machine the CPU time is
// the fairer number. Target (issue 10): check <= 5 ms. Needs `npm run build` (dist/lib).
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBlobsLayout } from './layout.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cache = process.env.OCIKIT_BENCH_CACHE ?? '/var/tmp/ocikit-bench';
const SMALL = 2000;
const TARGET_MS = 5;
const dir = path.join(cache, `base-check-${SMALL}`);

const { openLayout, resolve, resolveBase, checkBase } = await import(
  path.join(root, 'dist/lib/index.js')
);

/** One timed call of `f`: wall and CPU milliseconds. */
async function timed(f) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await f();
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Median wall and CPU milliseconds of each function, over `rounds` rounds that call every one of
 * them once (after `warmup` untimed rounds): interleaved, so a slow stretch of this VM (its
 * syscall cost drifts by a third from minute to minute) hits all rows alike and the ratios hold.
 */
async function measure(fs, rounds, warmup = 3) {
  const names = Object.keys(fs);
  const samples = Object.fromEntries(names.map((n) => [n, { wall: [], cpu: [] }]));
  for (let r = 0; r < warmup + rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(r + i) % names.length];
      const t = await timed(fs[name]);
      if (r >= warmup) {
        samples[name].wall.push(t.wall);
        samples[name].cpu.push(t.cpu);
      }
    }
  }
  return Object.fromEntries(
    names.map((n) => [
      n,
      {
        wall: median(samples[n].wall),
        cpu: median(samples[n].cpu),
        min: Math.min(...samples[n].wall),
      },
    ]),
  );
}

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

mkdirSync(cache, { recursive: true });
process.stderr.write(`bench: base check, ${SMALL} small blobs in ${dir}\n`);
writeBlobsLayout(dir, { small: SMALL, tag: 'bench' });
const loadBefore = load();

// First of all, once: what a fresh process pays for the check.
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const firstLayout = await openLayout(dir);
await resolve(firstLayout, { tag: 'bench' });
const t1 = process.hrtime.bigint();
const cpu1 = process.cpuUsage(cpu0);
await resolveBase(firstLayout, { tag: 'bench' });
const t2 = process.hrtime.bigint();
const cpu2 = process.cpuUsage(cpu0);
const cpuMs = (c) => (c.user + c.system) / 1000;
const first = {
  wall: Number(t2 - t1) / 1e6,
  cpu: cpuMs(cpu2) - cpuMs(cpu1),
};

const layout = await openLayout(dir);
const resolved = await resolve(layout, { tag: 'bench' });
const selected = { digest: resolved.descriptor.digest, tag: 'bench' };
const report = await checkBase(layout, selected);
// The floor on this machine: one lstat(2) per blob file of the same layout, nothing else.
const blobDir = path.join(dir, 'blobs', 'sha256');
const blobFiles = readdirSync(blobDir).map((n) => path.join(blobDir, n));
const { check, floor, plain, checked } = await measure(
  {
    check: () => checkBase(layout, selected),
    floor: () => {
      for (const f of blobFiles) lstatSync(f);
    },
    plain: async () => resolve(await openLayout(dir), { tag: 'bench' }),
    checked: async () => resolveBase(await openLayout(dir), { tag: 'bench' }),
  },
  51,
);
const { hashed } = await measure(
  { hashed: () => checkBase(layout, selected, { hash: true }) },
  7,
  1,
);
const loadAfter = load();

const rows = [
  ['first check in process (1 run)', first],
  ['check (sizes, no hashing)', check],
  [`floor: ${blobFiles.length} × lstatSync, bare loop`, floor],
  [
    'marginal: resolveBase − resolve',
    { wall: checked.wall - plain.wall, cpu: checked.cpu - plain.cpu },
  ],
  ['  openLayout + resolve', plain],
  ['  openLayout + resolveBase', checked],
  ['--verify (hashing)', hashed],
];
console.log(
  `\nbase check, ${report.blobs} blobs (${(report.bytes / 1024 / 1024).toFixed(1)} MiB), medians; load ${loadBefore} → ${loadAfter}`,
);
console.log(`${'what'.padEnd(34)}${'wall ms'.padStart(9)}${'cpu ms'.padStart(9)}`);
for (const [what, m] of rows)
  console.log(`${what.padEnd(34)}${m.wall.toFixed(2).padStart(9)}${m.cpu.toFixed(2).padStart(9)}`);
const ok = check.wall <= TARGET_MS;
console.log(
  `${ok ? 'PASS' : 'FAIL'} base check <= ${TARGET_MS} ms for ${report.blobs} blobs: ${check.wall.toFixed(2)} ms wall (min ${check.min.toFixed(2)}), ${check.cpu.toFixed(2)} ms CPU; ${(check.wall / floor.wall).toFixed(2)}× the bare lstat floor (${floor.wall.toFixed(2)} ms)`,
);
mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
writeFileSync(
  path.join(root, 'bench', 'results', 'base-check.json'),
  `${JSON.stringify({ date: new Date().toISOString(), blobs: report.blobs, load: [loadBefore, loadAfter], rows: Object.fromEntries(rows), ok }, null, 2)}\n`,
);
