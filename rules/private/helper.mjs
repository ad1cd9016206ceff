// ocikit's Bazel action helper: the glue between Bazel's action model and the ocikit CLI.
// Run with node (>= 20.19), no dependencies. Not a public interface: the rules in this
// directory call it; its arguments may change with them.
//
//   stage --out DIR --manifest FILE          copy files into a build-context directory,
//                                           following symlinks; FILE: JSON [[src, dest], ...]
//   config --spec FILE --config-out FILE [--argv-out FILE] [--run-config-out FILE]
//                                           buildx config (and argv) with every oci-layout
//                                           context pinned by the digest its resolve JSON holds
//   build --cli CLI --config FILE --out DIR [--docker D] [--buildx-version V] [--progress P]
//         [--report FILE] [--hermetic true|false] [--unused-context warn|error]
//         [--source-date-epoch N | --source-date-epoch-key KEY --status-file FILE...]
//                                           `ocikit build` with the build context copied out of
//                                           the sandbox's symlinks; --report: the portable part
//                                           of its --json result; the epoch may be read from
//                                           Bazel's workspace status files (`KEY VALUE` lines)
//   run --cli CLI --config FILE --root DIR [--hermetic B] [--unused-context U] [-- DOCKER_FLAG...]
//                                           for `bazel run`: `ocikit buildx-args`, then docker
//
// Exit codes: the child's, 1 on failure, 2 on a usage error. Files are written atomically
// (temporary sibling, then rename). JSON files have sorted keys and a trailing newline.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

class UsageError extends Error {}

function die(message, code = 1) {
  process.stderr.write(`ocikit (bazel helper): ${message}\n`);
  process.exit(code);
}

/** `--name value` options up to `--`; the rest are positionals. Repeated options collect. */
function parseOptions(argv, known) {
  const opts = {};
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(a)}`);
    const name = a.slice(2);
    if (!known.includes(name)) throw new UsageError(`unknown option --${name}`);
    const value = argv[i + 1];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    i++;
    (opts[name] ??= []).push(value);
  }
  return { opts, rest };
}

function one(opts, name, required = true) {
  const v = opts[name];
  if (v === undefined) {
    if (required) throw new UsageError(`--${name} is required`);
    return undefined;
  }
  if (v.length > 1) throw new UsageError(`--${name} given ${v.length} times`);
  return v[0];
}

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k])]),
    );
  }
  return v;
}

function stableJson(v) {
  return `${JSON.stringify(sortKeys(v), null, 2)}\n`;
}

function writeAtomic(file, text) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function readJson(file, what) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${what} ${file}: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------
// stage

/** Copy `src` (file or directory, symlinks followed) to `dest`; modes 0755 if executable else 0644. */
function copyDeref(src, dest) {
  const st = fs.statSync(src);
  if (st.isDirectory()) {
    fs.mkdirSync(dest, { recursive: true, mode: 0o755 });
    for (const name of fs.readdirSync(src).sort())
      copyDeref(path.join(src, name), path.join(dest, name));
    return;
  }
  if (!st.isFile()) throw new Error(`${src} is neither a file nor a directory`);
  fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o755 });
  fs.copyFileSync(src, dest);
  fs.chmodSync(dest, st.mode & 0o111 ? 0o755 : 0o644);
}

function stage(argv) {
  const { opts } = parseOptions(argv, ['out', 'manifest']);
  const out = one(opts, 'out');
  const manifest = readJson(one(opts, 'manifest'), 'stage manifest');
  fs.mkdirSync(out, { recursive: true });
  for (const [src, dest] of manifest) {
    if (path.isAbsolute(dest) || dest.split('/').includes('..'))
      throw new Error(`bad destination ${dest}`);
    copyDeref(src, path.join(out, dest));
  }
  return 0;
}

// ---------------------------------------------------------------------------------------
// config

// docker buildx build flags in ocikit's order (src/buildx/flags.ts FLAGS): the argv written
// here must equal what `ocikit buildx-args` prints for the same config (a test checks it).
const FLAG_ORDER = [
  ['builder', 'builder', 'value'],
  ['file', 'file', 'value'],
  ['target', 'target', 'value'],
  ['platform', 'platform', 'list'],
  ['buildContext', 'build-context', 'list'],
  ['buildArg', 'build-arg', 'list'],
  ['label', 'label', 'list'],
  ['annotation', 'annotation', 'list'],
  ['tag', 'tag', 'list'],
  ['output', 'output', 'list'],
  ['load', 'load', 'bool'],
  ['push', 'push', 'bool'],
  ['metadataFile', 'metadata-file', 'value'],
  ['iidfile', 'iidfile', 'value'],
  ['provenance', 'provenance', 'value'],
  ['sbom', 'sbom', 'value'],
  ['attest', 'attest', 'list'],
  ['secret', 'secret', 'list'],
  ['ssh', 'ssh', 'list'],
  ['cacheFrom', 'cache-from', 'list'],
  ['cacheTo', 'cache-to', 'list'],
  ['noCache', 'no-cache', 'bool'],
  ['noCacheFilter', 'no-cache-filter', 'list'],
  ['pull', 'pull', 'bool'],
  ['network', 'network', 'value'],
  ['addHost', 'add-host', 'list'],
  ['allow', 'allow', 'list'],
  ['cgroupParent', 'cgroup-parent', 'value'],
  ['shmSize', 'shm-size', 'value'],
  ['ulimit', 'ulimit', 'list'],
  ['call', 'call', 'value'],
  ['check', 'check', 'bool'],
  ['progress', 'progress', 'value'],
  ['quiet', 'quiet', 'bool'],
];

/** Config object -> `docker buildx build ...` argv (objects are written as sorted K=V). */
function configToArgv(config, docker = 'docker') {
  const argv = [docker, 'buildx', 'build'];
  for (const [key, flag, kind] of FLAG_ORDER) {
    let v = config[key];
    if (v === undefined) continue;
    if (kind === 'bool') {
      argv.push(v ? `--${flag}` : `--${flag}=false`);
    } else if (kind === 'value') {
      argv.push(`--${flag}`, v);
    } else {
      if (!Array.isArray(v))
        v = Object.keys(v)
          .sort()
          .map((k) => `${k}=${v[k]}`);
      if (key === 'platform') {
        if (v.length > 0) argv.push(`--${flag}`, v.join(','));
      } else {
        for (const x of v) argv.push(`--${flag}`, x);
      }
    }
  }
  argv.push(config.context);
  return argv;
}

/** `oci-layout://PATH[:TAG]@DIGEST` from a context spec and its `ocikit resolve --json` output. */
function pinnedRef(layoutPath, resolved, name) {
  const digest = resolved?.descriptor?.digest;
  if (
    typeof digest !== 'string' ||
    !/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)
  ) {
    throw new Error(`context ${name}: the resolve output has no descriptor.digest`);
  }
  if (/[:@]/.test(layoutPath)) {
    throw new Error(
      `context ${name}: layout path ${layoutPath} contains ':' or '@', which buildx misparses`,
    );
  }
  const tag = typeof resolved.tag === 'string' ? `:${resolved.tag}` : '';
  return `oci-layout://${layoutPath}${tag}@${digest}`;
}

function config(argv) {
  const { opts } = parseOptions(argv, ['spec', 'config-out', 'argv-out', 'run-config-out']);
  const spec = readJson(one(opts, 'spec'), 'spec');
  const configs = { exec: { ...spec.config }, run: { ...spec.config, ...spec.run } };
  for (const c of Object.values(configs)) c.buildContext = [];
  for (const ctx of spec.contexts) {
    const resolved = readJson(ctx.resolved, `resolve output of context ${ctx.name}`);
    configs.exec.buildContext.push(`${ctx.name}=${pinnedRef(ctx.layout, resolved, ctx.name)}`);
    configs.run.buildContext.push(`${ctx.name}=${pinnedRef(ctx.runLayout, resolved, ctx.name)}`);
  }
  for (const c of Object.values(configs)) if (c.buildContext.length === 0) delete c.buildContext;
  writeAtomic(one(opts, 'config-out'), stableJson(configs.exec));
  const argvOut = one(opts, 'argv-out', false);
  if (argvOut !== undefined)
    writeAtomic(argvOut, `${JSON.stringify(configToArgv(configs.exec))}\n`);
  const runOut = one(opts, 'run-config-out', false);
  if (runOut !== undefined) writeAtomic(runOut, stableJson(configs.run));
  return 0;
}

// ---------------------------------------------------------------------------------------
// build and run: both copy the context out of Bazel's symlink trees (buildx would send the
// symlinks themselves) into a private temporary directory.

function isInside(child, parent) {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Copy config.context into `tmp/context` and point context and file at the copy. */
function localizeContext(cfg, baseDir, tmp) {
  const ctxDir = path.resolve(baseDir, cfg.context);
  const copy = path.join(tmp, 'context');
  copyDeref(ctxDir, copy);
  const out = { ...cfg, context: copy };
  if (cfg.file !== undefined) {
    const file = path.resolve(baseDir, cfg.file);
    if (!isInside(file, ctxDir))
      throw new Error(`the Dockerfile ${cfg.file} is not inside the context ${cfg.context}`);
    out.file = path.join(copy, path.relative(ctxDir, file));
  }
  return out;
}

/** oci-layout:// paths relative to baseDir made absolute (the CLI reads them from its cwd). */
function absoluteContexts(cfg, baseDir) {
  if (cfg.buildContext === undefined) return cfg;
  const buildContext = cfg.buildContext.map((v) => {
    const m = /^([^=]+)=oci-layout:\/\/(.*)$/.exec(v);
    if (!m || path.isAbsolute(m[2])) return v;
    return `${m[1]}=oci-layout://${path.resolve(baseDir, m[2])}`;
  });
  return { ...cfg, buildContext };
}

/** The part of `ocikit build --json` that is the same on every machine (no absolute paths). */
function portableReport(result) {
  const { digest, buildxDigest, descriptor, format, steps, annotations, split, pulls } = result;
  // The builder's version is this machine's: kept out.
  const { builder: _builder, ...reproducible } = result.reproducible ?? {};
  return {
    digest,
    buildxDigest,
    descriptor,
    format,
    steps,
    annotations,
    split,
    pulls,
    reproducible,
  };
}

/** `--hermetic B` and `--unused-context U` of the helper as ocikit flags. */
function checkFlags(opts) {
  const out = [];
  const hermetic = one(opts, 'hermetic', false);
  if (hermetic !== undefined && hermetic !== 'true' && hermetic !== 'false')
    throw new UsageError(`--hermetic ${hermetic}: expected true or false`);
  if (hermetic === 'true') out.push('--hermetic');
  const unused = one(opts, 'unused-context', false);
  if (unused !== undefined) out.push('--unused-context', unused);
  return out;
}

/** SOURCE_DATE_EPOCH from --source-date-epoch, or KEY of Bazel's workspace status files. */
function sourceDateEpoch(opts) {
  const value = one(opts, 'source-date-epoch', false);
  const key = one(opts, 'source-date-epoch-key', false);
  if (key === undefined) return value;
  if (value !== undefined)
    throw new UsageError('--source-date-epoch and --source-date-epoch-key exclude each other');
  const files = opts['status-file'] ?? [];
  for (const file of files) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const sp = line.indexOf(' ');
      if (sp > 0 && line.slice(0, sp) === key) {
        const v = line.slice(sp + 1).trim();
        if (!/^[0-9]+$/.test(v))
          throw new Error(
            `source_date_epoch: workspace status ${key} is ${JSON.stringify(v)}, not a number of seconds`,
          );
        return v;
      }
    }
  }
  throw new Error(
    `source_date_epoch: the workspace status has no ${key} (${files.length} status file(s) read); define it in --workspace_status_command, or use "stamp" (BUILD_TIMESTAMP)`,
  );
}

function build(argv) {
  const { opts } = parseOptions(argv, [
    'cli',
    'config',
    'out',
    'docker',
    'buildx-version',
    'progress',
    'report',
    'split-platforms',
    'hermetic',
    'unused-context',
    'source-date-epoch',
    'source-date-epoch-key',
    'status-file',
  ]);
  const cli = path.resolve(one(opts, 'cli'));
  const epoch = sourceDateEpoch(opts);
  const checks = checkFlags(opts);
  const cwd = process.cwd();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocikit-bazel-'));
  try {
    const cfg = localizeContext(readJson(one(opts, 'config'), 'config'), cwd, tmp);
    const cfgFile = path.join(tmp, 'config.json');
    fs.writeFileSync(cfgFile, stableJson(cfg));
    // buildx writes state under $DOCKER_CONFIG/buildx on every build and the sandbox has no
    // writable home: ocikit build gives it a private copy. DOCKER_HOST comes from the env.
    const args = [
      cli,
      'build',
      '--config',
      cfgFile,
      '--out',
      path.resolve(one(opts, 'out')),
      '--private-docker-config',
      'always',
      '--json',
    ];
    for (const name of ['docker', 'buildx-version', 'progress', 'split-platforms']) {
      const v = one(opts, name, false);
      if (v !== undefined && v !== '') args.push(`--${name}`, v);
    }
    args.push(...checks);
    if (epoch !== undefined) args.push('--source-date-epoch', epoch);
    const r = spawnSync(process.execPath, args, {
      cwd,
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 256 << 20,
    });
    if (r.error) throw r.error;
    if (r.status !== 0) {
      process.stderr.write(r.stdout);
      return r.status ?? 1;
    }
    const report = one(opts, 'report', false);
    if (report !== undefined)
      writeAtomic(path.resolve(report), stableJson(portableReport(JSON.parse(r.stdout))));
    return 0;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function run(argv) {
  const { opts, rest } = parseOptions(argv, [
    'cli',
    'config',
    'root',
    'hermetic',
    'unused-context',
  ]);
  const checks = checkFlags(opts);
  const root = path.resolve(one(opts, 'root'));
  const cli = path.resolve(root, one(opts, 'cli'));
  const userCwd = process.env.BUILD_WORKING_DIRECTORY || process.cwd();
  const docker = process.env.OCIKIT_DOCKER || 'docker';
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocikit-run-'));
  try {
    const cfg = absoluteContexts(
      localizeContext(readJson(path.resolve(root, one(opts, 'config')), 'config'), root, tmp),
      root,
    );
    const cfgFile = path.join(tmp, 'config.json');
    fs.writeFileSync(cfgFile, stableJson(cfg));
    const argsFile = path.join(tmp, 'argv.json');
    // Flags after `--` come from the person (relative paths start where they ran bazel).
    const r = spawnSync(
      process.execPath,
      [
        cli,
        'buildx-args',
        '--config',
        cfgFile,
        '--out',
        path.join(tmp, 'layouts'),
        '--docker',
        docker,
        '--args-file',
        argsFile,
        '--format',
        'json',
        ...checks,
        ...rest,
      ],
      { cwd: userCwd, stdio: 'inherit' },
    );
    if (r.error) throw r.error;
    if (r.status !== 0) return r.status ?? 1;
    const [cmd, ...args] = JSON.parse(fs.readFileSync(argsFile, 'utf8'));
    process.stderr.write(`ocikit: running ${[cmd, ...args].join(' ')}\n`);
    const b = spawnSync(cmd, args, { cwd: userCwd, stdio: 'inherit' });
    if (b.error) throw b.error;
    return b.status ?? 1;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------

const COMMANDS = { stage, config, build, run };

function main() {
  const [cmd, ...argv] = process.argv.slice(2);
  const f = COMMANDS[cmd];
  if (f === undefined) die(`usage: helper.mjs ${Object.keys(COMMANDS).join('|')} ...`, 2);
  try {
    process.exitCode = f(argv);
  } catch (e) {
    if (e instanceof UsageError) die(`${cmd}: ${e.message}`, 2);
    die(`${cmd}: ${e.message}`);
  }
}

main();
