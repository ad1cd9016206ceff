#!/usr/bin/env node
// ocikit benchmarks, side by side with the tools people would otherwise use. Run with
// `npm run bench` (builds first). Needs node, hyperfine and sha256sum; skopeo and umoci rows
// are skipped when those are missing. Prints a table and writes bench/results/latest.json.
// A benchmark reports, it does not gate: exit 0 on a missed target, 1 only on a crash.
//
//   node bench/run.mjs [--only startup,worker,verify,engine]
//
// OCIKIT_BENCH_CACHE (default /var/tmp/ocikit-bench) holds the generated layout (~1.1 GB).
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BIG_TAG, blobStats, ensureLayout, writeBlobsLayout } from './layout.mjs';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const BUNDLE = path.join(ROOT, 'dist', 'ocikit.cjs');
const RESULTS = path.join(ROOT, 'bench', 'results');
const CACHE = process.env.OCIKIT_BENCH_CACHE || '/var/tmp/ocikit-bench';
const NODE = process.execPath;
/** What every measured command sees: nothing of this shell (NODE_EXTRA_CA_CERTS costs ~33 ms). */
const CLEAN_ENV = { PATH: '/usr/bin:/bin' };

const TARGETS = {
  resolveVsNode: 1.4, // cold `ocikit resolve` ≤ 1.4 × `node -e 0`
  versionVsNode: 1.2, // cold `ocikit --version` ≤ 1.2 × `node -e 0`
  workerResolveVsSkopeo: 0.2, // a resolve request in a warm worker ≤ 0.2 × `skopeo inspect --raw`
  workerContextMs: 15, // a thin-copy context request on 2,000 blobs in a warm worker ≤ 15 ms
  verifyVsSha256sum: 2, // `ocikit verify` throughput ≥ 2 × `sha256sum`
};

const { values: opts } = parseArgs({
  options: { only: { type: 'string', default: 'startup,worker,verify,engine' } },
});
const sections = new Set(opts.only.split(',').map((s) => s.trim()));

const log = (msg) => process.stderr.write(`${msg}\n`);

function which(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, name);
    if (dir !== '' && existsSync(p)) return p;
  }
  return undefined;
}

/** Quote for both sh and hyperfine's --shell=none word splitting. */
const q = (s) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);
const cmd = (...argv) => argv.map(q).join(' ');

function version(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: CLEAN_ENV });
  return r.status === 0 ? (r.stdout || r.stderr).trim().split('\n')[0] : undefined;
}

/** Run once in the clean environment; throw with its output when it fails. */
function preflight(label, argv, options = {}) {
  const r = spawnSync(argv[0], argv.slice(1), {
    encoding: options.encoding ?? 'utf8',
    env: CLEAN_ENV,
    cwd: options.cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) {
    throw new Error(`${label}: ${argv.join(' ')} exited ${r.status ?? r.signal}\n${r.stderr}`);
  }
  return r.stdout;
}

/**
 * Run hyperfine on `commands` ([label, command line]) in the clean environment and return
 * per-label stats in seconds. The raw export goes to bench/results/hyperfine-<name>.json.
 */
function hyperfine(name, commands, { warmup, runs, shell }) {
  const file = path.join(RESULTS, `hyperfine-${name}.json`);
  const args = ['--style', 'none', '--warmup', String(warmup), '--runs', String(runs)];
  args.push(shell ? `--shell=${shell}` : '--shell=none', '--export-json', file);
  for (const [label, line] of commands) args.push('--command-name', label, line);
  log(
    `  hyperfine ${name}: ${commands.map(([l]) => l).join(', ')} (${warmup} warmup + ${runs} runs)`,
  );
  const r = measureInterference(
    name,
    () => spawnSync(which('hyperfine') ?? 'hyperfine', args, { encoding: 'utf8', env: CLEAN_ENV }),
    (res) => (res.status === 0 ? hyperfineCpu(file, warmup) : 0),
  );
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`hyperfine ${name} failed:\n${r.stderr}${r.stdout}`);
  const out = {};
  for (const res of JSON.parse(readFileSync(file, 'utf8')).results) {
    out[res.command] = {
      command: commands.find(([l]) => l === res.command)[1],
      median: res.median,
      mean: res.mean,
      stddev: res.stddev ?? 0,
      min: res.min,
      max: res.max,
      runs: res.times.length,
      times: res.times,
    };
  }
  return out;
}

/**
 * {@link hyperfine} in `rounds` rounds of `runs / rounds` runs each, the commands' order rotated
 * every round, the times pooled: a drift of this VM (node's own start-up moves by ±15 % from
 * minute to minute) then hits every command alike, and ratios between them hold. hyperfine
 * alone measures command after command, so a drift between two batches lands in the ratio.
 */
function hyperfineInterleaved(name, commands, { warmup, runs, rounds }) {
  const pooled = {};
  for (let i = 0; i < rounds; i++) {
    const order = commands.map((_, k) => commands[(k + i) % commands.length]);
    const r = hyperfine(name, order, {
      warmup: i === 0 ? warmup : 1,
      runs: Math.ceil(runs / rounds),
    });
    for (const [label, res] of Object.entries(r)) (pooled[label] ??= []).push(...res.times);
  }
  const out = {};
  for (const [label, line] of commands) {
    const times = [...pooled[label]].sort((a, b) => a - b);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    const sd = Math.sqrt(times.reduce((a, b) => a + (b - mean) ** 2, 0) / (times.length - 1));
    const mid = times.length >> 1;
    out[label] = {
      command: line,
      median: times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2,
      mean,
      stddev: sd,
      min: times[0],
      max: times.at(-1),
      runs: times.length,
      times,
    };
  }
  return out;
}

/** CPU seconds the whole machine spent busy (incl. steal), from /proc/stat; undefined elsewhere. */
function machineBusy() {
  try {
    const f = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return (user + nice + system + irq + softirq + steal) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/**
 * Other work on the machine while we measured: busy CPU seconds minus our own, per wall
 * second (≈ cores taken by others). Other engineers' test runs show up here.
 */
const interference = [];
function measureInterference(section, fn, ownCpu) {
  const done = startInterference(section);
  const value = fn();
  done(ownCpu(value));
  return value;
}

/** Start watching the machine; call the result with the CPU seconds our own work used. */
function startInterference(section) {
  const b0 = machineBusy();
  const t0 = performance.now();
  return (own) => {
    const wall = (performance.now() - t0) / 1000;
    const b1 = machineBusy();
    if (b0 !== undefined && b1 !== undefined) {
      const foreign = Math.max(0, b1 - b0 - own) / wall;
      interference.push({ section, wall, foreignCores: foreign });
    }
  };
}

/**
 * Wait (at most `maxSeconds`) until the machine is quiet: other processes using < 0.3 cores
 * over a 2 s window. Returns the last load seen (cores), or undefined without /proc/stat.
 */
async function waitForQuiet(maxSeconds) {
  const deadline = performance.now() + maxSeconds * 1000;
  for (let first = true; ; first = false) {
    const b0 = machineBusy();
    if (b0 === undefined) return undefined;
    await new Promise((r) => setTimeout(r, 2000));
    const load = (machineBusy() - b0) / 2;
    if (load < 0.3 || performance.now() > deadline) return load;
    if (first)
      log(
        `  machine busy (${load.toFixed(2)} cores used by others); waiting up to ${maxSeconds} s`,
      );
  }
}

/** CPU seconds hyperfine's commands used (mean user+system × all runs incl. warm-up). */
function hyperfineCpu(file, warmup) {
  const { results } = JSON.parse(readFileSync(file, 'utf8'));
  return results.reduce((n, r) => n + (r.user + r.system) * (r.times.length + warmup), 0);
}

/** One line on how busy other processes kept the machine during these measurements. */
function sayLoad(...names) {
  const seen = interference.filter((i) => names.includes(i.section));
  if (seen.length === 0) return;
  const cores = seen.map((i) => `${i.foreignCores.toFixed(2)}`).join(' / ');
  const busy = seen.some((i) => i.foreignCores > 0.2);
  say(
    `   other processes kept ${cores} cores busy meanwhile${busy ? ' — CONTENDED, numbers pessimistic' : ''}`,
  );
}

const ms = (s) => (s * 1000).toFixed(1);
const mbps = (bytes, s) => bytes / 1e6 / s;
const fmtRatio = (x) => `${x.toFixed(2)}×`;

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells
      .map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
      .join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const results = {
  date: new Date().toISOString(),
  host: {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model,
    memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    node: process.version,
  },
  environment: {
    measured: 'env -i PATH=/usr/bin:/bin (hyperfine started with only PATH; commands inherit it)',
    node: NODE,
    bundle: path.relative(ROOT, BUNDLE),
  },
  tools: {},
  sections: {},
  targets: [],
};
const targets = results.targets;
const printed = [];
const say = (text = '') => {
  printed.push(text);
  process.stdout.write(`${text}\n`);
};

function startup(layoutDir) {
  const skopeo = which('skopeo');
  const umoci = which('umoci');
  const index = JSON.parse(readFileSync(path.join(layoutDir, 'index.json'), 'utf8'));
  const expected = index.manifests.find(
    (d) => d.annotations?.['org.opencontainers.image.ref.name'] === BIG_TAG,
  ).digest;

  // Check every command does the job before timing it.
  const got = preflight('ocikit resolve', [
    NODE,
    BUNDLE,
    'resolve',
    layoutDir,
    '--tag',
    BIG_TAG,
  ]).trim();
  if (got !== expected) throw new Error(`ocikit resolve printed ${got}, expected ${expected}`);
  const envKeys = preflight('node', [NODE, '-p', 'Object.keys(process.env).join(",")']).trim();
  if (envKeys !== 'PATH') throw new Error(`the clean environment is not clean: ${envKeys}`);

  const commands = [
    ['node -e 0', cmd(NODE, '-e', '0')],
    ['ocikit --version', cmd(NODE, BUNDLE, '--version')],
    ['ocikit resolve', cmd(NODE, BUNDLE, 'resolve', layoutDir, '--tag', BIG_TAG)],
  ];
  const skipped = [];
  if (skopeo) {
    const raw = preflight('skopeo', [skopeo, 'inspect', '--raw', `oci:${layoutDir}:${BIG_TAG}`], {
      encoding: 'buffer',
    });
    const d = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    if (d !== expected)
      throw new Error(`skopeo returned a manifest with digest ${d}, expected ${expected}`);
    commands.push([
      'skopeo inspect --raw',
      cmd(skopeo, 'inspect', '--raw', `oci:${layoutDir}:${BIG_TAG}`),
    ]);
  } else skipped.push('skopeo inspect --raw (skopeo not on PATH)');
  if (umoci) {
    preflight('umoci', [umoci, 'stat', '--image', `${layoutDir}:${BIG_TAG}`]);
    commands.push(['umoci stat', cmd(umoci, 'stat', '--image', `${layoutDir}:${BIG_TAG}`)]);
  } else skipped.push('umoci stat (umoci not on PATH)');

  const r = hyperfineInterleaved('startup', commands, { warmup: 3, runs: 30, rounds: 10 });
  const base = r['node -e 0'].median;
  say(
    '## 1. Startup / resolve (cold process, clean env, hyperfine: 10 rounds of 3 runs, the commands rotated each round, medians of the 30)',
  );
  say(`   layout: ${layoutDir}, tag ${BIG_TAG}; ocikit runs as \`node dist/ocikit.cjs\``);
  say();
  say(
    table(
      ['command', 'median ms', 'mean ± σ ms', 'min ms', '× node -e 0'],
      Object.entries(r).map(([label, s]) => [
        label,
        ms(s.median),
        `${ms(s.mean)} ± ${ms(s.stddev)}`,
        ms(s.min),
        fmtRatio(s.median / base),
      ]),
    ),
  );
  for (const s of skipped) say(`   skipped: ${s}`);
  sayLoad('startup');
  const resolve = r['ocikit resolve'].median;
  const ver = r['ocikit --version'].median;
  say();
  say(
    `   startup split: node ${ms(base)} ms + bundle load/CLI init ${ms(ver - base)} ms (--version)` +
      ` + command dispatch and resolve ${ms(resolve - ver)} ms`,
  );
  for (const peer of ['skopeo inspect --raw', 'umoci stat']) {
    if (r[peer]) say(`   ocikit resolve / ${peer}: ${fmtRatio(resolve / r[peer].median)}`);
  }
  say();
  const ratio = resolve / base;
  targets.push({
    name: `cold resolve ≤ ${TARGETS.resolveVsNode}× node -e 0`,
    value: `${fmtRatio(ratio)} (${ms(resolve)} ms vs ${ms(base)} ms)`,
    ratio,
    pass: ratio <= TARGETS.resolveVsNode,
  });
  const versionRatio = ver / base;
  targets.push({
    name: `cold --version ≤ ${TARGETS.versionVsNode}× node -e 0`,
    value: `${fmtRatio(versionRatio)} (${ms(ver)} ms vs ${ms(base)} ms)`,
    ratio: versionRatio,
    pass: versionRatio <= TARGETS.versionVsNode,
  });
  results.sections.startup = {
    results: r,
    skipped,
    ratioResolveVsNode: ratio,
    ratioVersionVsNode: versionRatio,
  };
}

function verify(layoutDir) {
  const { files, bytes } = blobStats(layoutDir);
  // Check the layout really verifies (also a first warm-up read of every blob).
  const report = JSON.parse(
    preflight('ocikit verify', [NODE, BUNDLE, 'verify', '--json', layoutDir]),
  );
  if (!report.ok || report.blobs !== files) {
    throw new Error(`ocikit verify: ok=${report.ok}, ${report.blobs} blobs (expected ${files})`);
  }
  // And that sha256sum agrees with every blob's name (so both tools read the same valid set).
  const out = preflight('sha256sum', ['sh', '-c', 'sha256sum blobs/sha256/*'], { cwd: layoutDir });
  const lines = out.trim().split('\n');
  const bad = lines.filter((l) => {
    const [hex, file] = l.split(/\s+\*?/);
    return file !== `blobs/sha256/${hex}`;
  });
  if (lines.length !== files || bad.length > 0) {
    throw new Error(`sha256sum disagrees with the blob names: ${bad.slice(0, 3).join('; ')}`);
  }

  const ocikit = (...a) => cmd(NODE, BUNDLE, 'verify', ...a, layoutDir);
  const a = hyperfine(
    'verify-ocikit',
    [
      ['ocikit verify', ocikit()],
      ['ocikit verify --no-digests', ocikit('--no-digests')],
      ['ocikit verify --jobs 1', ocikit('--jobs', '1')],
      [
        `ocikit verify --jobs ${os.availableParallelism() + 1}`,
        ocikit('--jobs', String(os.availableParallelism() + 1)),
      ],
    ],
    { warmup: 1, runs: 8, shell: 'sh' },
  );
  const b = hyperfine(
    'verify-sha256sum',
    [
      ['sha256sum blobs/sha256/*', `cd ${q(layoutDir)} && sha256sum blobs/sha256/*`],
      [
        'find | xargs -P2 sha256sum',
        `cd ${q(layoutDir)} && find blobs/sha256 -type f -print0 | xargs -0 -n 64 -P 2 sha256sum`,
      ],
    ],
    { warmup: 1, runs: 3, shell: 'sh' },
  );
  const r = { ...a, ...b };
  const sha = r['sha256sum blobs/sha256/*'].median;
  say(
    `## 3. Verify throughput (${files} blobs, ${(bytes / 2 ** 20).toFixed(1)} MiB; warm page cache:` +
      ' one warm-up run each, then medians)',
  );
  say(
    '   dropping the page cache is not reliably possible here, so this is CPU + syscall cost, not disk',
  );
  say();
  say(
    table(
      ['command', 'median ms', 'mean ± σ ms', 'runs', 'MB/s', 'vs sha256sum'],
      Object.entries(r).map(([label, s]) => [
        label,
        ms(s.median),
        `${ms(s.mean)} ± ${ms(s.stddev)}`,
        s.runs,
        label.includes('--no-digests') ? '(sizes only)' : mbps(bytes, s.median).toFixed(0),
        label.includes('--no-digests') ? '' : fmtRatio(sha / s.median),
      ]),
    ),
  );
  say(
    '   MB = 10^6 bytes; all bytes under blobs/sha256 (what both tools read), wall time incl. startup',
  );
  say(
    '   --jobs rows: worker-thread count experiments (default = cores); the xargs row uses 2 processes',
  );
  const v = r['ocikit verify'].median;
  const hashOnly = v - r['ocikit verify --no-digests'].median;
  say(
    `   hashing part of ocikit verify (verify − --no-digests): ${ms(hashOnly)} ms ≈ ` +
      `${mbps(bytes, hashOnly).toFixed(0)} MB/s`,
  );
  sayLoad('verify-ocikit', 'verify-sha256sum');
  say();
  const ratio = sha / v;
  targets.push({
    name: `verify throughput ≥ ${TARGETS.verifyVsSha256sum}× sha256sum`,
    value: `${fmtRatio(ratio)} (${mbps(bytes, v).toFixed(0)} vs ${mbps(bytes, sha).toFixed(0)} MB/s)`,
    ratio,
    pass: ratio >= TARGETS.verifyVsSha256sum,
  });
  results.sections.verify = {
    cache: 'warm (page cache not dropped; one warm-up run per command)',
    files,
    bytes,
    results: r,
    mbps: Object.fromEntries(Object.entries(r).map(([l, s]) => [l, mbps(bytes, s.median)])),
    ratioVsSha256sum: ratio,
  };
}

function engine() {
  const SIZE = 256 * 1024 * 1024;
  const CHUNK = 1024 * 1024;
  // Deterministic incompressible bytes (AES-CTR keystream), so no engine gets an easy input.
  const key = createHash('sha256').update('ocikit-bench-engine').digest();
  const data = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(SIZE));
  const small = data.subarray(0, CHUNK);

  const time = (fn, runs) => {
    const ts = [];
    let digest;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      digest = fn();
      ts.push((performance.now() - t0) / 1000);
    }
    ts.sort((x, y) => x - y);
    return { median: ts[Math.floor(ts.length / 2)], min: ts[0], runs, digest };
  };
  const rows = {};
  const node = (input) => () => createHash('sha256').update(input).digest('hex');
  const nodeChunked = () => {
    const h = createHash('sha256');
    for (let o = 0; o < SIZE; o += CHUNK) h.update(data.subarray(o, o + CHUNK));
    return h.digest('hex');
  };
  const nodeResident = () => {
    const h = createHash('sha256');
    for (let o = 0; o < SIZE; o += CHUNK) h.update(small);
    return h.digest('hex');
  };
  let u8a;
  let note;
  try {
    const req = createRequire(path.join(ROOT, 'package.json'));
    u8a = req('sha256-uint8array');
  } catch {
    note =
      'sha256-uint8array not installed: row skipped (the lead can add it with ' +
      '`npm install --save-dev sha256-uint8array@^0.12.1`)';
  }
  function measure() {
    node(small)();
    rows['node:crypto, one update of 256 MiB'] = time(node(data), 5);
    rows['node:crypto, 1 MiB updates over 256 MiB'] = time(nodeChunked, 5);
    rows['node:crypto, 1 MiB cache-resident ×256'] = time(nodeResident, 5);

    if (u8a) {
      u8a
        .createHash()
        .update(data.subarray(0, 16 * CHUNK))
        .digest('hex'); // warm-up (JIT)
      rows['sha256-uint8array, one update of 256 MiB'] = time(
        () => u8a.createHash().update(data).digest('hex'),
        3,
      );
    }
  }
  log('  hash engines: node:crypto, sha256-uint8array on 256 MiB in memory');
  const cpu0 = process.cpuUsage();
  measureInterference('engine', measure, () => {
    const c = process.cpuUsage(cpu0);
    return (c.user + c.system) / 1e6;
  });
  const digests = new Set(
    Object.entries(rows)
      .filter(([l]) => !l.includes('cache-resident'))
      .map(([, r]) => r.digest),
  );
  if (digests.size !== 1) throw new Error(`hash engines disagree: ${[...digests].join(', ')}`);

  const base = rows['node:crypto, one update of 256 MiB'];
  say('## 4. Hash engine (in memory, 256 MiB, one thread, median)');
  say();
  say(
    table(
      ['engine', 'median ms', 'runs', 'MB/s', 'vs node:crypto'],
      Object.entries(rows).map(([label, s]) => [
        label,
        ms(s.median),
        s.runs,
        mbps(SIZE, s.median).toFixed(0),
        fmtRatio(base.median / s.median),
      ]),
    ),
  );
  say(
    '   a 256 MiB buffer streams from RAM; a reused 1 MiB buffer stays in cache (as hash.ts reads)',
  );
  if (note) say(`   ${note}`);
  sayLoad('engine');
  let ratio;
  const u = rows['sha256-uint8array, one update of 256 MiB'];
  if (u) {
    ratio = u.median / base.median;
    say(`   node:crypto / sha256-uint8array throughput: ${fmtRatio(ratio)}`);
  }
  say();
  targets.push({
    name: 'hash engine (no target; hash.ts uses node:crypto)',
    value: u
      ? `${ratio >= 1 ? 'node:crypto' : 'sha256-uint8array'} is faster (${fmtRatio(Math.max(ratio, 1 / ratio))})`
      : 'sha256-uint8array absent, not compared',
    ratio,
    pass: undefined,
  });
  results.sections.engine = {
    bytes: SIZE,
    results: Object.fromEntries(
      Object.entries(rows).map(([l, s]) => [l, { ...s, mbps: mbps(SIZE, s.median) }]),
    ),
    ratioNodeVsSha256Uint8array: ratio,
    note,
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc; undefined elsewhere. */
function processCpu(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
  } catch {
    return undefined;
  }
}

/**
 * A warm persistent worker (`node dist/ocikit.cjs --persistent_worker`, in the clean
 * environment), driven as Bazel drives it: one request at a time, the time from writing the
 * request to reading its response. Side by side in the same run: `skopeo inspect --raw` and
 * `node -e 0` as processes (hyperfine), and the worker's own CPU time per request.
 */
async function worker(layoutDir) {
  const index = JSON.parse(readFileSync(path.join(layoutDir, 'index.json'), 'utf8'));
  const expected = index.manifests.find(
    (d) => d.annotations?.['org.opencontainers.image.ref.name'] === BIG_TAG,
  ).digest;
  const many = path.join(CACHE, 'base-check-2000');
  writeBlobsLayout(many, { small: 2000, tag: 'bench' });
  const scratch = mkdtempSync(path.join(CACHE, 'worker-'));
  const child = spawn(NODE, [BUNDLE, '--persistent_worker'], { cwd: scratch, env: CLEAN_ENV });
  let pending = '';
  const waiting = [];
  child.stdout.setEncoding('utf8').on('data', (d) => {
    pending += d;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      waiting.shift()?.(JSON.parse(line));
    }
  });
  const request = (args) =>
    new Promise((resolve) => {
      waiting.push(resolve);
      child.stdin.write(JSON.stringify({ arguments: [BUNDLE, ...args] }));
    });
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  /** Median wall ms per request, and the worker's CPU ms per request. */
  const measure = async (label, args, check, { warmup, runs }) => {
    for (let i = 0; i < warmup; i++) check(await request(args(`w${i}`)));
    const times = [];
    const cpu0 = processCpu(child.pid);
    for (let i = 0; i < runs; i++) {
      const a = args(`r${i}`);
      const t0 = performance.now();
      const r = await request(a);
      times.push(performance.now() - t0);
      check(r);
    }
    const cpu1 = processCpu(child.pid);
    log(`  worker: ${label}: ${warmup} warmup + ${runs} requests`);
    return {
      median: median(times),
      min: Math.min(...times),
      runs,
      cpuPerRequest:
        cpu0 === undefined || cpu1 === undefined ? undefined : ((cpu1 - cpu0) * 1000) / runs,
    };
  };
  const ok = (want) => (r) => {
    if (r.exitCode !== 0 || (want !== undefined && r.output !== want))
      throw new Error(`worker request failed: ${JSON.stringify(r)}`);
  };
  let rows;
  const done = startInterference('worker');
  const self0 = process.cpuUsage();
  const worker0 = processCpu(child.pid) ?? 0;
  try {
    rows = {
      resolve: await measure(
        'resolve',
        () => ['resolve', layoutDir, '--tag', BIG_TAG],
        ok(`${expected}\n`),
        { warmup: 50, runs: 300 },
      ),
      context: await measure(
        'context (thin copy, 2,000 blobs)',
        (name) => [
          'context',
          `base=${many}:bench`,
          '--buildx-version',
          '0.29.1',
          '--mode',
          'thin',
          '--out',
          path.join(scratch, name),
        ],
        ok(),
        { warmup: 10, runs: 60 },
      ),
    };
    const self = process.cpuUsage(self0);
    done((self.user + self.system) / 1e6 + (processCpu(child.pid) ?? worker0) - worker0);
  } finally {
    child.stdin.end();
    rmSync(scratch, { recursive: true, force: true });
  }
  // The processes they replace, in the same run.
  const skopeo = which('skopeo');
  const procs = [['node -e 0', cmd(NODE, '-e', '0')]];
  if (skopeo)
    procs.push([
      'skopeo inspect --raw',
      cmd(skopeo, 'inspect', '--raw', `oci:${layoutDir}:${BIG_TAG}`),
    ]);
  const p = hyperfine('worker-peers', procs, { warmup: 3, runs: 30 });
  const node = p['node -e 0'].median * 1000;
  say(
    '## 2. Persistent worker (warm `ocikit --persistent_worker`, one request at a time, medians)',
  );
  say("   wall: request written to response read (pipe round trip included); CPU: the worker's");
  say();
  const fmt = (x) => (x === undefined ? '?' : x.toFixed(2));
  say(
    table(
      ['what', 'median ms', 'min ms', 'worker CPU ms', 'runs'],
      [
        [
          'resolve request',
          fmt(rows.resolve.median),
          fmt(rows.resolve.min),
          fmt(rows.resolve.cpuPerRequest),
          rows.resolve.runs,
        ],
        [
          'context request, thin copy, 2,000 blobs',
          fmt(rows.context.median),
          fmt(rows.context.min),
          fmt(rows.context.cpuPerRequest),
          rows.context.runs,
        ],
        ...Object.entries(p).map(([l, s]) => [
          `${l} (process)`,
          ms(s.median),
          ms(s.min),
          '',
          s.runs,
        ]),
      ],
    ),
  );
  sayLoad('worker', 'worker-peers');
  say();
  if (p['skopeo inspect --raw']) {
    const sk = p['skopeo inspect --raw'].median * 1000;
    const ratio = rows.resolve.median / sk;
    say(
      `   resolve request / skopeo inspect --raw: ${fmtRatio(ratio)}; / node -e 0: ${fmtRatio(rows.resolve.median / node)}`,
    );
    targets.push({
      name: `worker resolve request ≤ ${TARGETS.workerResolveVsSkopeo}× skopeo inspect --raw`,
      value: `${fmtRatio(ratio)} (${fmt(rows.resolve.median)} ms vs ${fmt(sk)} ms)`,
      ratio,
      pass: ratio <= TARGETS.workerResolveVsSkopeo,
    });
  } else say('   skipped: skopeo inspect --raw (skopeo not on PATH): no ratio');
  targets.push({
    name: `worker thin-copy context request on 2,000 blobs ≤ ${TARGETS.workerContextMs} ms`,
    value: `${fmt(rows.context.median)} ms (worker CPU ${fmt(rows.context.cpuPerRequest)} ms)`,
    pass: rows.context.median <= TARGETS.workerContextMs,
  });
  say();
  results.sections.worker = { requests: rows, processes: p };
}

async function main() {
  const t0 = performance.now();
  if (!existsSync(BUNDLE))
    throw new Error(`${BUNDLE} is missing: run npm run build (npm run bench does)`);
  if (!which('hyperfine')) throw new Error('hyperfine is not on PATH');
  mkdirSync(RESULTS, { recursive: true });
  results.tools = {
    hyperfine: version(['hyperfine', '--version']),
    skopeo: which('skopeo') && version([which('skopeo'), '--version']),
    umoci: which('umoci') && version([which('umoci'), '--version']),
    sha256sum: version(['sha256sum', '--version']),
    ocikit: version([NODE, BUNDLE, '--version']),
  };
  say(`# ocikit bench — ${results.date}`);
  say(
    `   ${results.host.cpus} cores (${results.host.cpuModel}), node ${process.version}, ` +
      `${results.tools.hyperfine ?? 'hyperfine ?'}; measured in env -i PATH=/usr/bin:/bin`,
  );
  say();

  let layoutDir;
  if (sections.has('startup') || sections.has('worker') || sections.has('verify')) {
    const l = ensureLayout(CACHE, log);
    layoutDir = l.dir;
    results.layout = { dir: l.dir, generatedNow: l.generated, generateSeconds: l.seconds };
  }
  results.loadBeforeStart = await waitForQuiet(30);
  if (sections.has('startup')) startup(layoutDir);
  if (sections.has('worker')) await worker(layoutDir);
  if (sections.has('verify')) verify(layoutDir);
  if (sections.has('engine')) engine();

  say('## Summary');
  for (const t of targets) {
    const verdict = t.pass === undefined ? 'INFO' : t.pass ? 'PASS' : 'FAIL';
    say(`   ${verdict.padEnd(4)}  ${t.name}: ${t.value}`);
  }
  if (interference.length > 0) {
    const worst = Math.max(...interference.map((i) => i.foreignCores));
    say(
      `   other load on the machine while measuring (cores busy with other processes, avg): ` +
        interference.map((i) => `${i.section} ${i.foreignCores.toFixed(2)}`).join(', '),
    );
    if (worst > 0.2) {
      say(
        `   WARNING: up to ${worst.toFixed(2)} of ${os.availableParallelism()} cores were busy with` +
          ' other work (tests? builds?): numbers are pessimistic, rerun on a quiet machine',
      );
    }
  }
  results.interference = interference;
  results.seconds = (performance.now() - t0) / 1000;
  say(`   (bench took ${results.seconds.toFixed(0)} s; results in bench/results/latest.json)`);
  results.printed = printed.join('\n');
  writeFileSync(path.join(RESULTS, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
}

main().catch((e) => {
  log(`bench crashed: ${e.stack ?? e}`);
  process.exitCode = 1;
});
