#!/usr/bin/env node
// Which tar code ocikit's archive layer should stand on: its own reader/writer
// (src/archive/tar-reader.ts, ustar.ts) or node-tar's parser and packer with ocikit's policy on
// top. Measured side by side in one run, on the 2,047-blob, 1 GiB layout of bench/layout.mjs:
//   1. extraction: `ocikit unpack` (every blob hashed, policy checks) vs node-tar `tar.x`
//      (strict, no hashing) vs GNU `tar xf`;
//   2. writing: `ocikit pack` vs node-tar `tar.c` (portable) vs GNU `tar cf`;
//   3. determinism: each writer twice, on the layout and on a copy of it made in another
//      directory order; equal bytes or not.
// Reports ratios (throughput / ocikit's); exit 1 only when a command fails.
//
//   npm run build && node bench/tar-reader.mjs [--rounds 3]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { blobStats, ensureLayout } from './layout.mjs';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const BUNDLE = path.join(ROOT, 'dist', 'ocikit.cjs');
const CACHE = process.env.OCIKIT_BENCH_CACHE || '/var/tmp/ocikit-bench';
const NODE = process.execPath;
const TAR_MODULE = path.join(ROOT, 'node_modules', 'tar', 'dist', 'esm', 'index.js');
const { values: opts } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const ROUNDS = Math.max(1, Number(opts.rounds));
const log = (m) => process.stderr.write(`${m}\n`);

function run(argv, cwd) {
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd,
    env: { PATH: '/usr/bin:/bin' },
    encoding: 'utf8',
  });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return s;
}
const nodeTar = (code) => [
  NODE,
  '--input-type=module',
  '-e',
  `import * as tar from ${JSON.stringify(TAR_MODULE)};\n${code}`,
];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sha = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');

const { dir: layout } = ensureLayout(CACHE, log);
const { bytes } = blobStats(layout);
const work = path.join(CACHE, 'tar-reader');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const archive = path.join(work, 'layout.tar');
run([NODE, BUNDLE, 'pack', layout, '--out', archive]);

const extract = {
  'ocikit unpack': (dest) => [NODE, BUNDLE, 'unpack', archive, '--out', dest],
  'node-tar x': (dest) =>
    nodeTar(
      `import {mkdirSync} from 'node:fs'; mkdirSync(${JSON.stringify(dest)}); await tar.x({ file: ${JSON.stringify(archive)}, cwd: ${JSON.stringify(dest)}, strict: true });`,
    ),
  'GNU tar xf': (dest) => ['bash', '-c', `mkdir ${dest} && tar -xf ${archive} -C ${dest}`],
};
const pack = {
  'ocikit pack': (out, src) => [NODE, BUNDLE, 'pack', src, '--out', out],
  'node-tar c': (out, src) =>
    nodeTar(
      `await tar.c({ file: ${JSON.stringify(out)}, cwd: ${JSON.stringify(src)}, portable: true }, ${JSON.stringify(readdirSync(src).sort())});`,
    ),
  'GNU tar cf': (out, src) => ['tar', '-cf', out, '-C', src, '.'],
};

function bench(table, makeArgv) {
  const times = Object.fromEntries(Object.keys(table).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const names = Object.keys(table);
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length];
      const [argv, cleanup] = makeArgv(name, round);
      spawnSync('sync');
      times[name].push(run(argv));
      cleanup();
    }
  }
  const base = median(times[Object.keys(table)[0]]);
  for (const [name, ts] of Object.entries(times)) {
    const m = median(ts);
    console.log(
      `${name.padEnd(14)} ${m.toFixed(2)} s  ${(bytes / 1e6 / m).toFixed(0)} MB/s  ratio to ocikit ${(base / m).toFixed(2)}x`,
    );
  }
}

console.log(`layout: ${bytes} bytes of blobs; rounds: ${ROUNDS}`);
console.log(
  '== extraction (ocikit hashes every blob and checks the policy; node-tar and GNU tar do neither)',
);
bench(extract, (name, round) => {
  const dest = path.join(work, `x-${round}-${name.replace(/\W/g, '')}`);
  return [extract[name](dest), () => rmSync(dest, { recursive: true, force: true })];
});
console.log('== writing');
bench(pack, (name, round) => {
  const out = path.join(work, `c-${round}-${name.replace(/\W/g, '')}.tar`);
  return [pack[name](out, layout), () => rmSync(out, { force: true })];
});

console.log('== determinism (same layout twice; a copy made in another order)');
const copy = path.join(work, 'copy');
mkdirSync(path.join(copy, 'blobs', 'sha256'), { recursive: true });
for (const f of ['oci-layout', 'index.json']) cpSync(path.join(layout, f), path.join(copy, f));
for (const b of readdirSync(path.join(layout, 'blobs', 'sha256'))
  .sort()
  .reverse())
  cpSync(path.join(layout, 'blobs', 'sha256', b), path.join(copy, 'blobs', 'sha256', b));
for (const name of Object.keys(pack)) {
  const outs = [layout, layout, copy].map((src, i) => {
    const out = path.join(work, `d-${i}-${name.replace(/\W/g, '')}.tar`);
    run(pack[name](out, src));
    if (i === 2) spawnSync('sleep', ['1.1']);
    return out;
  });
  const hashes = outs.map(sha);
  console.log(
    `${name.padEnd(14)} twice: ${hashes[0] === hashes[1] ? 'identical' : 'DIFFERENT'}; from a copy: ${hashes[0] === hashes[2] ? 'identical' : 'DIFFERENT'}`,
  );
  for (const o of outs) rmSync(o, { force: true });
}
rmSync(work, { recursive: true, force: true });
