#!/usr/bin/env node
// Signal stress for every writing command of the bundled CLI (issue 9): each trial starts
// `node dist/ocikit.cjs` on a workload that takes a few hundred milliseconds, sends SIGINT,
// SIGTERM, SIGHUP or SIGKILL at a random moment, and checks what is left:
//
//   - the exit: 130/143/129 for SIGINT/SIGTERM/SIGHUP (ocikit's handlers), 0 when the run
//     finished first, or death by the signal itself when it arrived before node had loaded
//     ocikit (nothing can have been written then); for SIGKILL, 137 or 0;
//   - every output absent, or complete and identical to a reference run's (layouts verified
//     once, archives byte-identical, args files and --json-out documents byte-identical);
//     outputs of one run (buildx-args --out and --args-file) both there or both absent;
//   - no temporary sibling (`.NAME.ocikit-tmp-*`) anywhere, no parent directory the run
//     created, no scratch directory in its TMPDIR, no process of the run still alive;
//   - SIGKILL: one more (uninterrupted) run to the same destination, after which no temporary
//     sibling and no scratch directory is left (ocikit sweeps those of dead processes) and the
//     outputs are complete.
//
//   npm run build && node scripts/stress-signals.mjs [--trials N] [--commands a,b]
//       [--signals SIGINT,SIGTERM,SIGHUP,SIGKILL] [--jobs N] [--seed N] [--workload full|small]
//       [--keep]
//
// --trials is per command (default 100; signals take turns), --jobs trials at once (default
// 1), --keep keeps every trial's directory (failed ones are always kept). Commands: context,
// buildx-args, build, index, pack, pack-gzip, unpack, resolve-json-out. Prints a summary per
// command and signal and a closing line "N passed, N failed"; exits 1 on any failure.
import { prng } from '../bench/layout.mjs'; // seeded (mulberry32): replay a run with --seed
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const BUNDLE = path.join(ROOT, 'dist', 'ocikit.cjs');
const LIB = path.join(ROOT, 'dist', 'lib', 'index.js');
const FAKE_DOCKER = path.join(ROOT, 'test', 'fixtures', 'fake-docker.mjs');
const TMP_MARK = '.ocikit-tmp-';
const SIGNAL_EXIT = { SIGHUP: 129, SIGINT: 130, SIGKILL: 137, SIGTERM: 143 };
const ALL_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL'];

const { values: opts } = parseArgs({
  options: {
    trials: { type: 'string', default: '100' },
    commands: { type: 'string' },
    signals: { type: 'string', default: ALL_SIGNALS.join(',') },
    jobs: { type: 'string', default: '1' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
    workload: { type: 'string', default: 'full' },
  },
});
const log = (msg) => process.stderr.write(`${msg}\n`);

// --- workloads --------------------------------------------------------------------------------

const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};

/** A one-image layout of `small` blobs of ~4 KiB and one of `bigMiB` MiB; returns its manifest digest. */
function writeLayout(dir, small, bigMiB) {
  const blobs = path.join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (buf, mediaType) => {
    const hex = createHash('sha256').update(buf).digest('hex');
    writeFileSync(path.join(blobs, hex), buf);
    return { mediaType, digest: `sha256:${hex}`, size: buf.length };
  };
  const layers = [];
  for (let i = 0; i < small; i++) layers.push(put(randomBytes(4096 + i), MT.layer));
  if (bigMiB > 0) layers.push(put(randomBytes(bigMiB << 20), MT.layer));
  const config = put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    ),
    MT.config,
  );
  const manifest = put(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.manifest, config, layers })),
    MT.manifest,
  );
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.index,
      manifests: [
        {
          ...manifest,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
  return manifest.digest;
}

/**
 * The commands under test. `outputs` are relative to the trial's work directory, two levels
 * below it (p1/p2 do not exist before a run: the run creates them and must remove them when
 * it fails); `check` validates the reference outputs once.
 */
function commands(fx) {
  const flags = ['--buildx-version', '0.13.1'];
  return {
    context: {
      outputs: [{ flag: '--out', rel: 'p1/p2/ctx', kind: 'dir' }],
      argv: (o) => ['context', ...flags, `base=${fx.archive}:latest`, '--out', o[0]],
      check: async (o, lib) => verifyLayoutDir(lib, path.join(o[0], 'base')),
    },
    'buildx-args': {
      // Two outputs sharing the parents the run creates: both or neither.
      outputs: [
        { flag: '--out', rel: 'p1/p2/ctx', kind: 'dir' },
        { flag: '--args-file', rel: 'p1/p2/args.json', kind: 'file' },
      ],
      argv: (o) => [
        'buildx-args',
        ...flags,
        '--build-context',
        `base=${fx.archive}:latest`,
        '--out',
        o[0],
        '--args-file',
        o[1],
        '-t',
        'app',
        fx.app,
      ],
      check: async (o, lib) => {
        const argv = JSON.parse(readFileSync(o[1], 'utf8'));
        if (!argv.some((a) => a.startsWith(`base=oci-layout://${o[0]}/base:latest@sha256:`)))
          throw new Error(`args file does not name the context: ${JSON.stringify(argv)}`);
        await verifyLayoutDir(lib, path.join(o[0], 'base'));
      },
    },
    build: {
      outputs: [{ flag: '--out', rel: 'p1/p2/result', kind: 'dir' }],
      argv: (o) => [
        'build',
        '--docker',
        FAKE_DOCKER,
        ...flags,
        '--build-context',
        `base=${fx.small}:latest`,
        '--platform',
        'linux/amd64',
        '--progress',
        'quiet',
        '--out',
        o[0],
        fx.app,
      ],
      env: (home) => ({
        HOME: home,
        FAKE_MODE: 'ok',
        FAKE_LAYOUT: fx.layout,
        FAKE_DIGEST: fx.digest,
      }),
      check: async (o, lib) => verifyLayoutDir(lib, o[0]),
    },
    index: {
      outputs: [{ flag: '--out', rel: 'p1/p2/merged', kind: 'dir' }],
      argv: (o) => ['index', '--out', o[0], `${fx.layout}:latest`, '--tag', 'merged'],
      check: async (o, lib) => verifyLayoutDir(lib, o[0]),
    },
    pack: {
      outputs: [{ flag: '--out', rel: 'p1/p2/image.tar', kind: 'file' }],
      argv: (o) => ['pack', fx.layout, '--out', o[0]],
      check: async (o, lib) => unpackCheck(lib, o[0]),
    },
    'pack-gzip': {
      outputs: [{ flag: '--out', rel: 'p1/p2/image.tar.gz', kind: 'file' }],
      argv: (o) => ['pack', fx.layout, '--gzip', '--out', o[0]],
      check: async (o, lib) => unpackCheck(lib, o[0]),
    },
    unpack: {
      outputs: [{ flag: '--out', rel: 'p1/p2/layout', kind: 'dir' }],
      argv: (o) => ['unpack', fx.archive, '--out', o[0]],
      check: async (o, lib) => verifyLayoutDir(lib, o[0]),
    },
    'resolve-json-out': {
      outputs: [{ flag: '--json-out', rel: 'p1/p2/resolved.json', kind: 'file' }],
      argv: (o) => ['resolve', fx.layout, '--json-out', o[0]],
      check: async (o) => {
        const doc = JSON.parse(readFileSync(o[0], 'utf8'));
        if (doc.descriptor?.digest !== fx.digest)
          throw new Error(`--json-out names ${doc.descriptor?.digest}, expected ${fx.digest}`);
      },
    },
  };
}

async function verifyLayoutDir(lib, dir) {
  const layout = await lib.openLayout(dir);
  const report = await lib.verifyLayout(layout);
  if (!report.ok) throw new Error(`${dir} does not verify: ${JSON.stringify(report.problems)}`);
}

async function unpackCheck(lib, archive) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ocikit-stress-check-'));
  try {
    await lib.unpackArchive(archive, path.join(dir, 'layout'));
    await verifyLayoutDir(lib, path.join(dir, 'layout'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- observing a trial ------------------------------------------------------------------------

/**
 * Every path under `root` with its type, size, content hash or link target (sorted). Paths
 * into the trial's own directory (args files, --json-out documents name the outputs) are
 * written `<trial>`, so every trial compares with the reference run.
 */
function treeListing(root, trialDir) {
  const out = [];
  const own = (text) => text.split(trialDir).join('<trial>');
  const walk = (rel) => {
    const abs = path.join(root, rel);
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) out.push(`${rel} -> ${own(readlinkSync(abs))}`);
    else if (st.isDirectory()) {
      out.push(`${rel}/`);
      for (const name of readdirSync(abs).sort()) walk(rel === '' ? name : `${rel}/${name}`);
    } else {
      let bytes = readFileSync(abs);
      if (bytes.length < 1 << 20) bytes = Buffer.from(own(bytes.toString('latin1')), 'latin1');
      out.push(`${rel} ${bytes.length} ${createHash('sha256').update(bytes).digest('hex')}`);
    }
  };
  walk('');
  return out;
}

/** A digest of what is at `p` (a file or a directory tree), or undefined if absent. */
function digestOf(p, trialDir) {
  if (!existsSync(p)) return undefined;
  return createHash('sha256').update(treeListing(p, trialDir).join('\n')).digest('hex');
}

/** Paths under `dir` whose name marks a temporary sibling. */
function tempSiblings(dir) {
  const found = [];
  const walk = (d) => {
    let names;
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const abs = path.join(d, name);
      if (name.includes(TMP_MARK)) found.push(abs);
      else if (lstatSync(abs).isDirectory()) walk(abs);
    }
  };
  walk(dir);
  return found;
}

const alive = (pgid) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
};

async function groupGone(pgid, ms) {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (!alive(pgid)) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return !alive(pgid);
}

/** Start the CLI in its own process group; resolves with its exit once it is gone. */
function start(cmd, trial, { delay, signal } = {}) {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TMPDIR: trial.tmp,
    ...(cmd.env?.(trial.home) ?? {}),
  };
  const child = spawn(process.execPath, [BUNDLE, ...cmd.argv(trial.outs)], {
    cwd: trial.dir,
    env,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const t0 = performance.now();
  let sentAt;
  const exited = new Promise((resolve) => {
    child.on('close', (code, sig) =>
      resolve({
        code,
        signal: sig,
        stderr,
        ms: performance.now() - t0,
        sentAt,
        pid: child.pid,
      }),
    );
  });
  if (signal !== undefined) {
    setTimeout(() => {
      sentAt = performance.now() - t0;
      try {
        process.kill(child.pid, signal);
      } catch {
        // gone already
      }
    }, delay);
  }
  return exited;
}

// --- one trial --------------------------------------------------------------------------------

function newTrial(base, name, cmd) {
  const dir = path.join(base, name);
  rmSync(dir, { recursive: true, force: true });
  const trial = {
    dir,
    work: path.join(dir, 'work'),
    tmp: path.join(dir, 'tmp'),
    home: path.join(dir, 'home'),
  };
  for (const d of [trial.work, trial.tmp, trial.home]) mkdirSync(d, { recursive: true });
  trial.outs = cmd.outputs.map((o) => path.join(trial.work, o.rel));
  return trial;
}

/** What the outputs look like: each 'absent', 'complete' or 'partial'. */
function outputStates(trial, reference) {
  return trial.outs.map((o, i) => {
    const d = digestOf(o, trial.dir);
    return d === undefined ? 'absent' : d === reference[i] ? 'complete' : 'partial';
  });
}

/** Names left in TMPDIR (scratch directories). */
const scratchLeft = (trial) => readdirSync(trial.tmp);

async function runTrial(name, cmd, reference, base, signal, delay) {
  const trial = newTrial(base, name, cmd);
  const problems = [];
  const r = await start(cmd, trial, { delay, signal });
  const killed = signal === 'SIGKILL';
  if (killed) {
    // Children of a killed ocikit (the fake docker of a build) are orphans: end them as a
    // supervisor ending the process group would.
    try {
      process.kill(-r.pid, 'SIGKILL');
    } catch {
      // none left
    }
  }
  if (!(await groupGone(r.pid, 2000))) {
    problems.push('a process of the run is still alive after it exited');
    try {
      process.kill(-r.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  let outcome;
  if (r.code === 0) outcome = 'completed';
  else if (r.code === SIGNAL_EXIT[signal]) outcome = 'interrupted';
  else if (r.signal === signal) outcome = killed ? 'killed' : 'died before handlers';
  else {
    outcome = 'unexpected exit';
    problems.push(
      `exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  if (/OCIKIT_INTERNAL/.test(r.stderr))
    problems.push(`OCIKIT_INTERNAL on stderr: ${r.stderr.trim()}`);
  const states = outputStates(trial, reference);
  if (states.includes('partial')) problems.push(`partial output: ${states.join(', ')}`);
  if (outcome === 'completed' && states.some((s) => s !== 'complete'))
    problems.push(`exit 0 but outputs ${states.join(', ')}`);
  let committed = false;
  if (!killed && outcome !== 'completed') {
    committed = states.some((s) => s === 'complete');
    if (committed) problems.push(`exit ${r.code ?? r.signal} but outputs ${states.join(', ')}`);
    if (!committed && readdirSync(trial.work).length > 0)
      problems.push(`left in the work directory: ${readdirSync(trial.work).join(', ')}`);
  }
  if (!killed) {
    const temps = tempSiblings(trial.dir);
    if (temps.length > 0) problems.push(`temporary siblings left: ${temps.join(', ')}`);
    const scratch = scratchLeft(trial);
    if (scratch.length > 0) problems.push(`scratch left in TMPDIR: ${scratch.join(', ')}`);
  }
  let scratchAfterKill = 0;
  let tempsAfterKill = 0;
  if (killed) {
    // kill -9 between the commits of two outputs leaves one of them: nothing can make that
    // atomic. Each is still whole (checked above).
    tempsAfterKill = tempSiblings(trial.dir).length;
    scratchAfterKill = scratchLeft(trial).length;
    // One more run to the same destination sweeps the dead run's temporary siblings.
    const again = await start(cmd, trial);
    const expectOk = states.every((s) => s === 'absent');
    if (expectOk && again.code !== 0)
      problems.push(`rerun after SIGKILL exited ${again.code}: ${again.stderr.trim()}`);
    if (!expectOk && again.code !== 1)
      problems.push(`rerun onto existing output exited ${again.code}, expected 1`);
    if (!expectOk && !/OCIKIT_OUT_NOT_EMPTY/.test(again.stderr))
      problems.push(`rerun onto existing output: ${again.stderr.trim()}`);
    const temps = tempSiblings(trial.dir);
    if (temps.length > 0)
      problems.push(`temporary siblings left after a rerun: ${temps.join(', ')}`);
    const scratch = scratchLeft(trial);
    if (scratch.length > 0)
      problems.push(`scratch left in TMPDIR after a rerun: ${scratch.join(', ')}`);
    if (expectOk) {
      const after = outputStates(trial, reference);
      if (after.some((s) => s !== 'complete')) problems.push(`rerun outputs ${after.join(', ')}`);
    }
  }
  if (problems.length === 0 && !opts.keep) rmSync(trial.dir, { recursive: true, force: true });
  return {
    outcome,
    problems,
    tempsAfterKill,
    scratchAfterKill,
    ms: r.ms,
    sentAt: r.sentAt,
    stderr: r.stderr,
    dir: trial.dir,
  };
}

// --- main -------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(BUNDLE) || !existsSync(LIB)) {
    log(`${BUNDLE} or ${LIB} is missing: run npm run build first`);
    process.exit(2);
  }
  const lib = await import(LIB);
  const trialsPerCommand = Math.max(1, Number(opts.trials));
  const jobs = Math.max(1, Number(opts.jobs));
  const seed = opts.seed !== undefined ? Number(opts.seed) : Date.now() % 2 ** 31;
  const signals = opts.signals.split(',').filter((s) => s !== '');
  for (const s of signals) if (!ALL_SIGNALS.includes(s)) throw new Error(`--signals: unknown ${s}`);
  const random = prng(seed);

  const base = mkdtempSync(path.join(os.tmpdir(), 'ocikit-stress-'));
  log(`stress: seed ${seed}, ${trialsPerCommand} trials per command, workdir ${base}`);
  const fx = {
    layout: path.join(base, 'fixtures', 'layout'),
    small: path.join(base, 'fixtures', 'small'),
    archive: path.join(base, 'fixtures', 'layout.tar'),
    app: path.join(base, 'fixtures', 'app'),
  };
  // full: 800 blobs of ~4 KiB and one of 32 MiB: index, pack and unpack take 200-500 ms of
  // work after node's start-up here (2 cores), pack --gzip and build about a second.
  // small (the tap sample): 200 blobs and 4 MiB.
  if (opts.workload !== 'full' && opts.workload !== 'small')
    throw new Error(`--workload: full or small, not ${opts.workload}`);
  fx.digest =
    opts.workload === 'full' ? writeLayout(fx.layout, 800, 32) : writeLayout(fx.layout, 200, 4);
  writeLayout(fx.small, 2, 0);
  mkdirSync(fx.app, { recursive: true });
  writeFileSync(path.join(fx.app, 'Dockerfile'), 'FROM base\nCOPY hello.txt /\n');
  writeFileSync(path.join(fx.app, 'hello.txt'), 'hi\n');
  const packed = spawnSync(process.execPath, [BUNDLE, 'pack', fx.layout, '--out', fx.archive], {
    encoding: 'utf8',
  });
  if (packed.status !== 0) throw new Error(`fixture pack failed: ${packed.stderr}`);

  // How long node takes to load the bundle and print its version: the window before ocikit's
  // signal handlers exist.
  const startups = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, [BUNDLE, '--version']);
    startups.push(performance.now() - t0);
  }
  const startup = Math.min(...startups);

  const all = commands(fx);
  const names = opts.commands !== undefined ? opts.commands.split(',') : Object.keys(all);
  for (const n of names) if (all[n] === undefined) throw new Error(`--commands: unknown ${n}`);

  let passed = 0;
  let failed = 0;
  const lines = [];
  for (const name of names) {
    const cmd = all[name];
    // Reference outputs (same paths as every trial) and the wall time of an uninterrupted run.
    const times = [];
    let reference;
    for (let i = 0; i < 3; i++) {
      const trial = newTrial(base, `${name}-reference`, cmd);
      const r = await start(cmd, trial);
      if (r.code !== 0) throw new Error(`${name}: reference run exited ${r.code}: ${r.stderr}`);
      times.push(r.ms);
      if (i === 0) await cmd.check(trial.outs, lib);
      const digests = trial.outs.map((o) => digestOf(o, trial.dir));
      if (reference !== undefined && digests.join() !== reference.join())
        throw new Error(`${name}: two uninterrupted runs wrote different outputs`);
      reference = digests;
      rmSync(trial.dir, { recursive: true, force: true });
    }
    // Signals land from late in node's start-up (before ocikit's handlers exist) to a little
    // after an uninterrupted run would have ended.
    // The median: one slow reference run (a busy machine) would put most signals after the end.
    const wall = [...times].sort((a, b) => a - b)[1];
    const from = Math.min(startup * 0.75, wall / 2);
    const plan = Array.from({ length: trialsPerCommand }, (_, i) => ({
      i,
      signal: signals[i % signals.length],
      delay: Math.round(from + random() * (wall * 1.2 - from)),
    }));
    const results = [];
    let next = 0;
    const worker = async () => {
      for (let p = plan[next++]; p !== undefined; p = plan[next++]) {
        const res = await runTrial(`${name}-${p.i}`, cmd, reference, base, p.signal, p.delay);
        results.push({ ...p, ...res });
        if (res.problems.length > 0) {
          log(
            `FAIL ${name} #${p.i} ${p.signal} at ${p.delay} ms (${res.outcome}): ${res.problems.join('; ')}`,
          );
          log(`  kept ${res.dir}; stderr: ${res.stderr.trim().split('\n').slice(-4).join(' | ')}`);
        }
      }
    };
    await Promise.all(Array.from({ length: jobs }, worker));
    const bad = results.filter((r) => r.problems.length > 0).length;
    passed += results.length - bad;
    failed += bad;
    const outcomes = (rs) => {
      const counts = {};
      for (const r of rs) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
      return Object.entries(counts)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
    };
    lines.push(
      `${name}: ${results.length} trials, uninterrupted run ${Math.round(wall)} ms (start-up ${Math.round(startup)} ms), signals at ${Math.round(from)}-${Math.round(wall * 1.2)} ms: ${outcomes(results)}; ${bad} failed`,
    );
    for (const s of signals) {
      const rs = results.filter((r) => r.signal === s);
      if (rs.length === 0) continue;
      let extra = '';
      if (s === 'SIGKILL') {
        const temps = rs.filter((r) => r.tempsAfterKill > 0).length;
        const scratch = rs.filter((r) => r.scratchAfterKill > 0).length;
        extra = `; temporary siblings left by the kill ${temps}${scratch > 0 ? `, scratch directories ${scratch}` : ''} (all swept by the rerun unless failed)`;
      }
      lines.push(
        `  ${s}: ${outcomes(rs)}${extra}; ${rs.filter((r) => r.problems.length > 0).length} failed`,
      );
    }
    log(lines.slice(-1 - signals.length).join('\n'));
  }
  if (failed === 0 && !opts.keep) rmSync(base, { recursive: true, force: true });
  else log(`kept ${base}`);
  process.stdout.write(`${lines.join('\n')}\n${passed} passed, ${failed} failed\n`);
  process.exit(failed === 0 ? 0 : 1);
}

await main();
