#!/usr/bin/env node
// Archive and index benchmarks, side by side with the tools people would otherwise use:
//   1. ocikit pack   vs GNU `tar cf`  on the 2,047-blob, 1 GiB layout of bench/layout.mjs;
//   2. ocikit unpack vs GNU `tar xf`  of those archives (ocikit hashes every blob as it goes);
//   3. ocikit index  of 8 single-platform layouts (1 GiB, 2,016 blobs in all): the default
//      (copy, a reflink where the file system can, and verify every blob's digest),
//      --trust-inputs (sizes only), --link hard (with and without --trust-inputs), against
//      `cp -a`, `cp -al` and `sha256sum` over the same blobs, and the two ways of verifying a
//      copy (hash the copy afterwards, or hash while copying: bench/take-strategy.mjs).
// Rounds are interleaved (ocikit, peer, ocikit, peer, ...) so both see the same machine; the
// median wall time of each is reported, with throughput (MB = 10^6 bytes of blob content)
// and "ratio" lines (ocikit throughput / peer throughput; target ≥ 0.8 for pack and unpack).
// Reports, does not gate: exit 0 on a missed target, 1 when a command fails or answers wrong.
//
//   npm run build && node bench/archive.mjs [--rounds 3] [--only archive|index]
//
// OCIKIT_BENCH_CACHE (default /var/tmp/ocikit-bench) holds the generated layouts (~2.2 GB).
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
const BUNDLE = path.join(ROOT, 'dist', 'ocikit.cjs');
const CACHE = process.env.OCIKIT_BENCH_CACHE || '/var/tmp/ocikit-bench';
const NODE = process.execPath;
const CLEAN_ENV = { PATH: '/usr/bin:/bin' };
const TARGET = 0.8;

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    only: { type: 'string', default: 'archive,index' },
  },
});
const ROUNDS = Math.max(1, Number(opts.rounds));
const SECTIONS = new Set(opts.only.split(','));
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
// v2: ~1 GiB and ~2,000 blobs in all (v1 was 208 MiB, ~500 blobs).
const INDEX_LAYOUT_VERSION = 'v2';
const SMALL_PER_PLATFORM = 245;
const MEDIUM_PER_PLATFORM = 4;
const MEDIUM_BYTES = 6 * 1024 * 1024;
const PLATFORM_BYTES = 128 * 1024 * 1024;

/** One single-platform layout: 245 small layers (4–64 KiB), 4 of 6 MiB, one large (128 MiB in all). */
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
  const layer = (i, size) =>
    layers.push(write(bytes(i, size), 'application/vnd.oci.image.layer.v1.tar'));
  let total = 0;
  for (let i = 0; i < SMALL_PER_PLATFORM; i++) {
    const size = 4096 + ((i * 7919) % 61440);
    layer(i, size);
    total += size;
  }
  for (let i = 0; i < MEDIUM_PER_PLATFORM; i++) layer(1000 + i, MEDIUM_BYTES);
  layer(2000, PLATFORM_BYTES - total - MEDIUM_PER_PLATFORM * MEDIUM_BYTES);
  const [architecture, variant] = PLATFORMS[n];
  const platform = { architecture, os: 'linux', ...(variant ? { variant } : {}) };
  writeSingleImage(dir, write, layers, { platform, tag: 'latest' });
}

function ensurePlatformLayouts() {
  const dir = path.join(CACHE, `index-${INDEX_LAYOUT_VERSION}`);
  if (existsSync(path.join(dir, 'p7', 'index.json'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`generating 8 platform layouts in ${dir} (once; ~1.1 GB) ...`);
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
const work = path.join(CACHE, `archive-work-${process.pid}`);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
console.log(
  `# ocikit archive bench: ${os.cpus().length} cores, node ${process.version}, ${tarVersion}, ${ROUNDS} interleaved rounds, load ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);

try {
  if (SECTIONS.has('archive')) archiveSection();
  if (SECTIONS.has('index')) indexSection();
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

/** pack vs tar cf, unpack vs tar xf, on the 1 GiB, 2,047-blob layout of bench/layout.mjs. */
function archiveSection() {
  const { dir: layout } = ensureLayout(CACHE, log);
  const stats = blobStats(layout);
  console.log(
    `# layout: ${stats.files} blobs, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB (${layout})`,
  );
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
}

/**
 * ocikit index of the 8 platform layouts (1 GiB, 2,016 blobs): what taking the blobs honestly
 * (copy and verify) costs, against hardlinks, `cp -a`, `cp -al` and `sha256sum`.
 */
function indexSection() {
  const platforms = ensurePlatformLayouts();
  const sources = readdirSync(platforms)
    .sort()
    .map((p) => path.join(platforms, p));
  const { files, bytes } = sources
    .map((s) => blobStats(s))
    .reduce((a, b) => ({ files: a.files + b.files, bytes: a.bytes + b.bytes }));
  const merged = path.join(work, 'merged');
  const copied = path.join(work, 'copied');
  const clear = () => {
    rmSync(merged, { recursive: true, force: true });
    rmSync(copied, { recursive: true, force: true });
  };
  const copyCmd = (flags) => [
    'sh',
    '-c',
    `mkdir -p ${copied}/blobs && for s in ${sources.join(' ')}; do cp ${flags} "$s/blobs/." ${copied}/blobs/; done`,
  ];
  const index = (...flags) => [NODE, BUNDLE, 'index', '--out', merged, ...sources, ...flags];
  const strategy = (name) => [
    NODE,
    path.join(ROOT, 'bench', 'take-strategy.mjs'),
    name,
    copied,
    ...sources,
  ];

  // Preflight (also the warm-up): every mode gives the same index; the counts are honest.
  let digest;
  for (const flags of [[], ['--trust-inputs'], ['--link', 'hard']]) {
    clear();
    const r = JSON.parse(run('index', index('--tag', 'multi', '--json', ...flags)).stdout);
    const taken = r.blobs.copied + r.blobs.linked;
    const want = flags.includes('hard') ? r.blobs.linked : r.blobs.copied;
    digest ??= r.descriptor.digest;
    if (r.descriptor.digest !== digest || taken !== files || want !== files) {
      failed = true;
      log(`FAIL: ocikit index ${flags.join(' ')} took ${JSON.stringify(r.blobs)} of ${files}`);
    }
    if (r.blobs.verified !== (flags.includes('--trust-inputs') ? 0 : files)) {
      failed = true;
      log(`FAIL: ocikit index ${flags.join(' ')} verified ${r.blobs.verified} blobs`);
    }
  }
  const resolved = JSON.parse(
    run('resolve', [NODE, BUNDLE, 'resolve', merged, '--tag', 'multi', '--json']).stdout,
  );
  if (resolved.descriptor?.mediaType !== 'application/vnd.oci.image.index.v1+json') {
    failed = true;
    log('FAIL: ocikit index did not produce an image index');
  }
  for (const name of ['copy-then-hash', 'hash-while-copy']) {
    clear();
    run(name, strategy(name));
  }
  const sums = run('sha256sum', ['sh', '-c', 'sha256sum */blobs/sha256/*'], platforms).stdout;
  const wrong = sums
    .trim()
    .split('\n')
    .filter((l) => l.slice(0, 64) !== path.basename(l.slice(66)));
  if (wrong.length > 0) {
    failed = true;
    log(`FAIL: sha256sum disagrees with ${wrong.length} blob names`);
  }

  const ti = rounds(
    [
      ['ocikit index (copy + verify)', clear, index()],
      ['ocikit index --trust-inputs', clear, index('--trust-inputs')],
      ['ocikit index --link hard', clear, index('--link', 'hard')],
      ['ocikit index --link hard --trust-inputs', clear, index('--link', 'hard', '--trust-inputs')],
      ['cp -a', clear, copyCmd('-a')],
      ['cp -al', clear, copyCmd('-al')],
      [
        'sha256sum',
        clear,
        ['sh', '-c', `cd ${platforms} && sha256sum */blobs/sha256/* >/dev/null`],
      ],
      ['copy-then-hash (take-blobs)', clear, strategy('copy-then-hash')],
      ['hash-while-copy (blob-copy)', clear, strategy('hash-while-copy')],
    ],
    work,
  );
  clear();
  console.log('');
  console.log(
    `# index: 8 platform layouts, ${files} blobs, ${(bytes / 2 ** 20).toFixed(0)} MiB (${platforms})`,
  );
  console.log('| command | median wall s | MB/s | median CPU s (user+sys) | wall × cp -a |');
  console.log('|---|---:|---:|---:|---:|');
  const iwall = (label) => ti.get(label).wall;
  for (const [label, s] of ti)
    console.log(
      `| ${label} | ${s.wall.toFixed(3)} | ${mbps(bytes, s.wall).toFixed(0)} | ${s.cpu.toFixed(3)} | ${(s.wall / iwall('cp -a')).toFixed(2)} |`,
    );
  console.log('');
  const verifyCost = iwall('ocikit index (copy + verify)') - iwall('ocikit index --trust-inputs');
  const linkVerifyCost =
    iwall('ocikit index --link hard') - iwall('ocikit index --link hard --trust-inputs');
  ratioLine(
    'index (copy + verify)/cp-a speed',
    iwall('ocikit index (copy + verify)'),
    iwall('cp -a'),
  );
  ratioLine(
    'index (copy + verify)/(cp-a + sha256sum) speed',
    iwall('ocikit index (copy + verify)'),
    iwall('cp -a') + iwall('sha256sum'),
  );
  ratioLine(
    'index --trust-inputs/cp-a speed',
    iwall('ocikit index --trust-inputs'),
    iwall('cp -a'),
  );
  ratioLine('index --link hard/cp-al speed', iwall('ocikit index --link hard'), iwall('cp -al'));
  ratioLine(
    'index --link hard --trust-inputs/cp-al speed',
    iwall('ocikit index --link hard --trust-inputs'),
    iwall('cp -al'),
  );
  ratioLine(
    'hash-while-copy/copy-then-hash speed',
    iwall('hash-while-copy (blob-copy)'),
    iwall('copy-then-hash (take-blobs)'),
  );
  console.log(
    `verification costs ${verifyCost.toFixed(3)} s after copies (${mbps(bytes, verifyCost).toFixed(0)} MB/s), ${linkVerifyCost.toFixed(3)} s after hardlinks; sha256sum alone ${iwall('sha256sum').toFixed(3)} s`,
  );
}
