#!/usr/bin/env node
// Bench: preparing a read-only-safe build context for a layout of 2,000 small blobs plus large
// ones (1 GiB and 4 GiB in total), side by side in one run with
//   (a) cp -a of the whole layout, and
//   (b) the rules_oci workaround (buildx issue 2753): copy index.json and oci-layout, one
//       symlink per blob (cp -as, the fastest form of it), touch index.json.lock, mkdir ingest.
// ocikit runs as the CLI (node startup included): `ocikit context base=L:tag --out NEW`.
// Targets (issue 3): <= 50 ms, >= 30x faster than (b), flat as bytes grow (1 GiB vs 4 GiB).
// Layouts are generated once and cached in ${OCIKIT_BENCH_CACHE:-/var/tmp/ocikit-bench}.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBlobsLayout } from './layout.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bundle = path.join(root, 'dist/ocikit.cjs');
const cache = process.env.OCIKIT_BENCH_CACHE ?? '/var/tmp/ocikit-bench';
const SMALL = 2000;

function hyperfine(commands, runs, warmup) {
  const out = path.join(os.tmpdir(), `ocikit-bench-${process.pid}.json`);
  // hyperfine takes one --prepare per command, in the order of the commands.
  const ordered = [
    '--style',
    'none',
    '--runs',
    String(runs),
    '--warmup',
    String(warmup),
    '--export-json',
    out,
  ];
  for (const c of commands) ordered.push('--prepare', c.prepare);
  for (const c of commands) ordered.push('--command-name', c.name);
  ordered.push(...commands.map((c) => c.command));
  execFileSync('hyperfine', ordered, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { PATH: process.env.PATH },
  });
  const results = JSON.parse(readFileSync(out, 'utf8')).results;
  rmSync(out, { force: true });
  return Object.fromEntries(results.map((r) => [r.command, r.median * 1000]));
}

const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
mkdirSync(cache, { recursive: true });
const sizes = [
  { label: '1 GiB', dir: path.join(cache, 'context-1g'), big: 4, mib: 256 },
  { label: '4 GiB', dir: path.join(cache, 'context-4g'), big: 4, mib: 1024 },
];
const scratch = mkdtempSync(path.join(cache, 'run-'));
const rows = [];
try {
  for (const s of sizes) {
    process.stderr.write(
      `bench: layout ${s.label} (${SMALL} small blobs + ${s.big} x ${s.mib} MiB) in ${s.dir}\n`,
    );
    writeBlobsLayout(s.dir, { small: SMALL, bigCount: s.big, bigMiB: s.mib, tag: 'bench' });
    const out = path.join(scratch, 'out');
    const node = process.execPath;
    const env = `env -i PATH=/usr/bin:/bin`;
    const medians = hyperfine(
      [
        {
          name: 'ocikit',
          prepare: `rm -rf ${q(out)}`,
          command: `${env} ${q(node)} ${q(bundle)} context base=${q(s.dir)}:bench --buildx-version 0.29.1 --mode thin --out ${q(out)}`,
        },
        {
          name: 'rules_oci-workaround',
          prepare: `rm -rf ${q(out)}`,
          command: `sh -c ${q(`mkdir -p ${out}/blobs && cp ${s.dir}/oci-layout ${s.dir}/index.json ${out}/ && cp -as ${s.dir}/blobs/sha256 ${out}/blobs/ && touch ${out}/index.json.lock && mkdir ${out}/ingest`)}`,
        },
        {
          name: 'cp-a',
          prepare: `rm -rf ${q(out)} && sync`,
          command: `cp -a ${q(s.dir)} ${q(out)}`,
        },
      ],
      s.label === '1 GiB' ? 10 : 5,
      1,
    );
    // In-process: the preparation itself, without node's and the CLI's startup.
    const { prepareContexts, parseBuildxVersion } = await import(
      path.join(root, 'dist/lib/index.js')
    );
    const times = [];
    for (let i = 0; i < 21; i++) {
      rmSync(out, { recursive: true, force: true });
      const t0 = process.hrtime.bigint();
      await prepareContexts([{ name: 'base', ref: { path: s.dir, tag: 'bench' } }], {
        out,
        mode: 'thin',
        buildx: parseBuildxVersion('0.29.1'),
      });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    rows.push({ size: s.label, ...medians, library: times[10] });
    rmSync(out, { recursive: true, force: true });
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const fmt = (ms) => `${ms.toFixed(1)} ms`;
const x = (a, b) => `${(a / b).toFixed(1)}x`;
console.log(
  '\ncontext preparation, 2,000 small blobs + large ones (medians; CLI rows: clean env, node startup included)',
);
console.log(
  [
    'size',
    'ocikit CLI',
    'ocikit library',
    'rules_oci workaround',
    'cp -a',
    'workaround/CLI',
    'workaround/library',
    'cp-a/CLI',
  ]
    .map((h, i) => h.padEnd(i === 0 ? 7 : 22))
    .join(''),
);
for (const r of rows) {
  const w = r['rules_oci-workaround'];
  console.log(
    [
      r.size,
      fmt(r.ocikit),
      fmt(r.library),
      fmt(w),
      fmt(r['cp-a']),
      x(w, r.ocikit),
      x(w, r.library),
      x(r['cp-a'], r.ocikit),
    ]
      .map((c, i) => c.padEnd(i === 0 ? 7 : 22))
      .join(''),
  );
}
const [one, four] = rows;
const checks = [
  [
    `preparation <= 50 ms: library ${fmt(one.library)} / ${fmt(four.library)}; CLI ${fmt(one.ocikit)} / ${fmt(four.ocikit)} (node + CLI startup alone is ~45 ms)`,
    Math.max(one.library, four.library) <= 50,
  ],
  [
    `>= 30x faster than the rules_oci workaround: library ${x(one['rules_oci-workaround'], one.library)}, CLI ${x(one['rules_oci-workaround'], one.ocikit)}`,
    one['rules_oci-workaround'] / one.library >= 30,
  ],
  [
    `flat as bytes grow (4 GiB / 1 GiB): library ${(four.library / one.library).toFixed(2)}x, CLI ${(four.ocikit / one.ocikit).toFixed(2)}x`,
    four.library / one.library < 1.5,
  ],
];
for (const [what, ok] of checks) console.log(`${ok ? 'PASS' : 'FAIL'} ${what}`);
mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
writeFileSync(
  path.join(root, 'bench', 'results', 'context.json'),
  `${JSON.stringify({ date: new Date().toISOString(), rows, checks }, null, 2)}\n`,
);

// The base check's in-process cost on a 2,000-blob layout (bench/base-check.mjs).
await import('./base-check.mjs');
