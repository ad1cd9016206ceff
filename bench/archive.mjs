#!/usr/bin/env node
// Archive and index benchmarks, side by side with the tools people would otherwise use:
//   1. ocikit pack   vs GNU `tar cf`  on the 2,047-blob, 1 GiB layout of bench/layout.mjs;
//   2. ocikit unpack vs GNU `tar xf`  of those archives (ocikit hashes every blob as it goes);
//   3. ocikit index  of 8 single-platform layouts vs `cp -a` (and `cp -al`) of their blobs.
// Rounds are interleaved (ocikit, peer, ocikit, peer, ...) so both see the same machine; the
// median wall time of each is reported, with throughput (MB = 10^6 bytes of blob content)
// and "ratio" lines (ocikit throughput / peer throughput; target ≥ 0.8 for pack and unpack).
// Reports, does not gate: exit 0 on a missed target, 1 when a command fails or answers wrong.
//
//   npm run build && node bench/archive.mjs [--rounds 3]
//
// OCIKIT_BENCH_CACHE (default /var/tmp/ocikit-bench) holds the generated layouts (~1.4 GB).
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSingleImage } from './layout.mjs';
import { blobStats, ensureLayout } from './layout.mjs';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const BUNDLE = path.join(ROOT, 'dist', 'ocikit.mjs');
const CACHE = process.env.OCIKIT_BENCH_CACHE || '/var/tmp/ocikit-bench';
const NODE = process.execPath;
const CLEAN_ENV = { PATH: '/usr/bin:/bin' };
const TARGET = 0.8;

const { values: opts } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const ROUNDS = Math.max(1, Number(opts.rounds));
const log = (msg) => process.stderr.write(`${msg}\n`);
let failed = false;

/** CPU seconds (user + system) of the children this process has waited for (/proc/self/stat). */
function childCpu() {
  const fields = readFileSync('/proc/self/stat', 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK; // cutime, cstime
}
const CLK_TCK =
  Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** Flush dirty pages, so no command pays for the writeback of the one before it. */
function settle() {
  spawnSync('sync');
}

function run(label, argv, cwd) {
  const cpu0 = childCpu();
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), {
    env: CLEAN_ENV,
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0)
    throw new Error(`${label}: ${argv.join(' ')} exited ${r.status ?? r.signal}\n${r.stderr}`);
  return { seconds, cpu: childCpu() - cpu0, stdout: r.stdout };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mbps = (bytes, s) => bytes / 1e6 / s;
const sha256File = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');

/**
 * Interleaved rounds of several [label, prepare, argv] commands (the order rotates every
 * round, dirty pages are flushed before each command); median wall and CPU seconds per label.
 */
function rounds(commands, cwd) {
  const times = new Map(commands.map(([label]) => [label, { wall: [], cpu: [] }]));
  for (let i = 0; i < ROUNDS; i++) {
    const k = i % commands.length;
    for (const [label, prepare, argv] of [...commands.slice(k), ...commands.slice(0, k)]) {
      prepare();
      settle();
      const r = run(label, argv, cwd);
      times.get(label).wall.push(r.seconds);
      times.get(label).cpu.push(r.cpu);
    }
  }
  return new Map(
    [...times].map(([label, x]) => [label, { wall: median(x.wall), cpu: median(x.cpu) }]),
  );
}

function ratioLine(name, ours, theirs, target) {
  const ratio = theirs / ours; // throughput ratio = inverse time ratio
  const verdict =
    target === undefined
      ? ''
      : ratio >= target
        ? `  PASS (target ≥ ${target})`
        : `  MISS (target ≥ ${target})`;
  console.log(`ratio ${name}: ${ratio.toFixed(2)}${verdict}`);
  return ratio;
}

// ---- the 8 platform layouts for the index benchmark ------------------------------------
const PLATFORMS = [
  ['amd64'],
  ['arm64'],
  ['arm', 'v7'],
  ['arm', 'v6'],
  ['386'],
  ['ppc64le'],
  ['s390x'],
  ['riscv64'],
];
const INDEX_LAYOUT_VERSION = 'v1';

function generatePlatformLayout(dir, n) {
  const blobs = path.join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const key = createHash('sha256').update(`ocikit-bench-index-${n}`).digest();
  const write = (buf, mediaType) => {
    const hex = createHash('sha256').update(buf).digest('hex');
    writeFileSync(path.join(blobs, hex), buf);
    return { mediaType, digest: `sha256:${hex}`, size: buf.length };
  };
  const bytes = (i, size) => {
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(i, 0);
    return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(size));
  };
  const layers = [];
  for (let i = 0; i < 60; i++)
    layers.push(
      write(bytes(i, 4096 + ((i * 7919) % 61440)), 'application/vnd.oci.image.layer.v1.tar'),
    );
  layers.push(write(bytes(1000, 24 * 1024 * 1024), 'application/vnd.oci.image.layer.v1.tar'));
  const [architecture, variant] = PLATFORMS[n];
  const platform = { architecture, os: 'linux', ...(variant ? { variant } : {}) };
  writeSingleImage(dir, write, layers, { platform, tag: 'latest' });
}

function ensurePlatformLayouts() {
  const dir = path.join(CACHE, `index-${INDEX_LAYOUT_VERSION}`);
  if (existsSync(path.join(dir, 'p7', 'index.json'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`generating 8 platform layouts in ${dir} (once; ~250 MB) ...`);
  for (let n = 0; n < PLATFORMS.length; n++) generatePlatformLayout(path.join(tmp, `p${n}`), n);
  try {
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(path.join(dir, 'p7', 'index.json'))) throw e;
  }
  return dir;
}

// ---- main ---------------------------------------------------------------------------------
const started = performance.now();
if (!existsSync(BUNDLE)) {
  log(`${BUNDLE} is missing: run npm run build first`);
  process.exit(1);
}
const tarVersion =
  spawnSync('tar', ['--version'], { encoding: 'utf8', env: CLEAN_ENV }).stdout?.split('\n')[0] ??
  '';
if (!/GNU tar/.test(tarVersion)) {
  log(`GNU tar is needed (found: ${tarVersion || 'none'})`);
  process.exit(1);
}
const { dir: layout } = ensureLayout(CACHE, log);
const stats = blobStats(layout);
const work = path.join(CACHE, `archive-work-${process.pid}`);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
console.log(
  `# ocikit archive bench: ${os.cpus().length} cores, node ${process.version}, ${tarVersion}, ${ROUNDS} interleaved rounds, load ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
console.log(
  `# layout: ${stats.files} blobs, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB (${layout})`,
);

try {
  const ours = path.join(work, 'ocikit.tar');
  const theirs = path.join(work, 'gnu.tar');
  const oursDir = path.join(work, 'ocikit-unpacked');
  const theirsDir = path.join(work, 'tar-extracted');

  // Preflight (also the warm-up): determinism, skopeo-free sanity via ocikit verify.
  run('pack', [NODE, BUNDLE, 'pack', layout, '--out', ours]);
  const first = sha256File(ours);
  rmSync(ours);
  run('pack', [NODE, BUNDLE, 'pack', layout, '--out', ours]);
  if (sha256File(ours) !== first) {
    failed = true;
    log('FAIL: two ocikit pack runs gave different archives');
  }
  run('tar cf', ['tar', 'cf', theirs, '-C', layout, '.']);
  run('unpack', [NODE, BUNDLE, 'unpack', ours, '--out', oursDir]);
  const verify = JSON.parse(
    run('verify', [NODE, BUNDLE, 'verify', oursDir, '--no-digests', '--json']).stdout,
  );
  if (!verify.ok || verify.blobs !== stats.files) {
    failed = true;
    log(`FAIL: the unpacked layout does not verify (${verify.blobs} blobs)`);
  }
  mkdirSync(theirsDir);
  run('tar xf', ['tar', 'xf', theirs, '-C', theirsDir]);

  const t = rounds(
    [
      [
        'ocikit pack',
        () => rmSync(ours, { force: true }),
        [NODE, BUNDLE, 'pack', layout, '--out', ours],
      ],
      ['tar cf', () => rmSync(theirs, { force: true }), ['tar', 'cf', theirs, '-C', layout, '.']],
      [
        'ocikit unpack',
        () => rmSync(oursDir, { recursive: true, force: true }),
        [NODE, BUNDLE, 'unpack', ours, '--out', oursDir],
      ],
      [
        'tar xf',
        () => {
          rmSync(theirsDir, { recursive: true, force: true });
          mkdirSync(theirsDir);
        },
        ['tar', 'xf', theirs, '-C', theirsDir],
      ],
    ],
    work,
  );
  console.log('');
  console.log('| command | median wall s | MB/s | median CPU s (user+sys) |');
  console.log('|---|---:|---:|---:|');
  for (const [label, s] of t) {
    const rate = mbps(stats.bytes, s.wall).toFixed(0);
    console.log(`| ${label} | ${s.wall.toFixed(2)} | ${rate} | ${s.cpu.toFixed(2)} |`);
  }
  console.log('');
  const wall = (label) => t.get(label).wall;
  const cpu = (label) => t.get(label).cpu;
  ratioLine('pack/tar-cf throughput', wall('ocikit pack'), wall('tar cf'), TARGET);
  ratioLine(
    'unpack/tar-xf throughput (ocikit also hashes every blob)',
    wall('ocikit unpack'),
    wall('tar xf'),
    TARGET,
  );
  ratioLine('pack/tar-cf CPU efficiency', cpu('ocikit pack'), cpu('tar cf'));
  ratioLine('unpack/tar-xf CPU efficiency', cpu('ocikit unpack'), cpu('tar xf'));
  rmSync(oursDir, { recursive: true, force: true });
  rmSync(theirsDir, { recursive: true, force: true });
  rmSync(ours, { force: true });
  rmSync(theirs, { force: true });

  // Index merge of 8 platform layouts vs copying their blobs.
  const platforms = ensurePlatformLayouts();
  const sources = readdirSync(platforms)
    .sort()
    .map((p) => path.join(platforms, p));
  const indexBytes = sources.reduce((n, s) => n + blobStats(s).bytes, 0);
  const merged = path.join(work, 'merged');
  const copied = path.join(work, 'copied');
  const copyCmd = (flags) => [
    'sh',
    '-c',
    `mkdir -p ${copied}/blobs && for s in ${sources.join(' ')}; do cp ${flags} "$s/blobs/." ${copied}/blobs/; done`,
  ];
  run('index', [
    NODE,
    BUNDLE,
    'index',
    '--out',
    merged,
    ...sources,
    '--tag',
    'multi',
    '--annotation',
    'org.opencontainers.image.version=1',
  ]);
  const mergedIndex = JSON.parse(
    run('verify', [NODE, BUNDLE, 'resolve', merged, '--tag', 'multi', '--json']).stdout,
  );
  if (mergedIndex.descriptor?.mediaType !== 'application/vnd.oci.image.index.v1+json') {
    failed = true;
    log('FAIL: ocikit index did not produce an image index');
  }
  const ti = rounds(
    [
      [
        'ocikit index',
        () => rmSync(merged, { recursive: true, force: true }),
        [NODE, BUNDLE, 'index', '--out', merged, ...sources, '--tag', 'multi'],
      ],
      ['cp -a', () => rmSync(copied, { recursive: true, force: true }), copyCmd('-a')],
      ['cp -al', () => rmSync(copied, { recursive: true, force: true }), copyCmd('-al')],
    ],
    work,
  );
  console.log('');
  console.log(`# index: 8 platform layouts, ${(indexBytes / 2 ** 20).toFixed(0)} MiB of blobs`);
  console.log('| command | median wall s | median CPU s |');
  console.log('|---|---:|---:|');
  for (const [label, s] of ti)
    console.log(`| ${label} | ${s.wall.toFixed(3)} | ${s.cpu.toFixed(3)} |`);
  console.log('');
  const iwall = (label) => ti.get(label).wall;
  ratioLine('index/cp-a speed', iwall('ocikit index'), iwall('cp -a'));
  ratioLine('index/cp-al speed (both hardlink)', iwall('ocikit index'), iwall('cp -al'));
} catch (e) {
  failed = true;
  log(String(e?.stack ?? e));
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(
  `# total ${((performance.now() - started) / 1000).toFixed(1)} s, load ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
process.exit(failed ? 1 : 0);
