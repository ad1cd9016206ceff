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
//         [--report FILE] [--verify-base size|digest] [--allow-unknown-platforms true|false]
//         [--tlscacert F --tlscert F --tlskey F] [--warn-unsandboxed true|false]
//         [--hermetic true|false] [--unused-context warn|error] [--rewrite-timestamp B]
//         [--source-date-epoch N | --source-date-epoch-key KEY --status-file FILE...]
//                                           `ocikit build` with the build context copied out of
//                                           the sandbox's symlinks; --report: the portable part
//                                           of its --json-out result. Warns when the action is
//                                           not sandboxed (OCIKIT_W_UNSANDBOXED; not with
//                                           --warn-unsandboxed false). The epoch may
//                                           be read from Bazel's workspace status files
//                                           (`KEY VALUE` lines)
//   run --cli CLI --config FILE --root DIR [--verify-base V] [--allow-unknown-platforms B]
//       [--hermetic B] [--unused-context U] [--rewrite-timestamp B]
//       [--source-date-epoch-key KEY --status-file FILE...] [--docker-host H]
//       [--tlscacert F --tlscert F --tlskey F] [-- DOCKER_FLAG...]
//                                           for `bazel run`: `ocikit buildx-args`, then docker;
//                                           the epoch KEY of the status files (in the runfiles)
//                                           becomes the build argument SOURCE_DATE_EPOCH; the
//                                           host and TLS files reach docker as DOCKER_HOST and
//                                           DOCKER_CERT_PATH (symlinks, in a temporary
//                                           directory) with DOCKER_TLS_VERIFY=1
//   verify-archive --cli CLI --archive FILE [-- VERIFY_FLAG...]
//                                           for a test: `ocikit unpack` into a temporary
//                                           directory, then `ocikit verify` on it
//   load-archive --cli CLI --layout DIR --resolved FILE --name NAME... --out FILE [--info FILE]
//                                           the image a resolve output names, under each NAME
//                                           (io.containerd.image.name), packed for `docker load`
//                                           with Docker's manifest.json; --info: the digests
//                                           `load` accepts (the config's, for the classic store)
//   load --docker D [--docker-host H] --archive FILE --resolved FILE [--info FILE] --name NAME...
//        [-- DOCKER_LOAD_FLAG...]           for `bazel run`: `docker load`, then each NAME is
//                                           checked to be the resolved image in the daemon (its
//                                           digest; on the classic image store, its config)
//
// Exit codes: the child's, 1 on failure, 2 on a usage error. Errors are printed as the CLI
// prints them (`ocikit: error CODE: message` and `  hint: ...`), the CLI's own on its stderr
// (its JSON document goes to a file), so Bazel shows readable text. Files are written
// atomically (temporary sibling, then rename). JSON files have sorted keys and a trailing
// newline.
//
// The rules run stage and config through the ocikit bundle (`node ocikit.cjs @ARGS`, whose
// first line names this file), which calls runHelper in its own process, and in its
// persistent worker once per request: those two commands read and write only the paths they
// are given, relative to the request's directory, and keep no state.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A failure with one of the CLI's codes (src/errors.ts) and a hint. */
class HelperError extends Error {
  constructor(code, message, hint) {
    super(message);
    this.code = code;
    this.hint = hint;
  }
}

class UsageError extends HelperError {
  constructor(message) {
    super(
      'OCIKIT_USAGE',
      message,
      'The rules in @ocikit//rules/private call this helper; their arguments changed together (rebuild).',
    );
  }
}

/** An error as the CLI prints it, and its exit code (2 for usage errors). */
function report(cmd, e) {
  const code = e instanceof HelperError ? e.code : 'OCIKIT_INTERNAL';
  const hint =
    e instanceof HelperError
      ? e.hint
      : 'A bug in the Bazel helper of ocikit (rules/private/helper.mjs) or an environment problem; rerun with OCIKIT_DEBUG=1 for a stack trace and report it.';
  let text = `ocikit: error ${code}: ${cmd}: ${e.message}\n`;
  if (hint) text += `  hint: ${hint}\n`;
  if (process.env.OCIKIT_DEBUG === '1' && e.stack) text += `${e.stack}\n`;
  return { text, exitCode: code === 'OCIKIT_USAGE' ? 2 : 1 };
}

/** Print an error as the CLI does and exit (2 for usage errors). */
function die(cmd, e) {
  const r = report(cmd, e);
  process.stderr.write(r.text);
  process.exit(r.exitCode);
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
    throw new HelperError(
      e.code === undefined ? 'OCIKIT_JSON_INVALID' : 'OCIKIT_INPUT_UNREADABLE',
      `cannot read ${what} ${file}: ${e.message}`,
      'The file is written by another action of the same rule: rebuild; if it persists, report it.',
    );
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
  if (!st.isFile())
    throw new HelperError(
      'OCIKIT_INPUT_UNREADABLE',
      `${src} is neither a file nor a directory`,
      'Give srcs and the Dockerfile as files or directories.',
    );
  fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o755 });
  fs.copyFileSync(src, dest);
  fs.chmodSync(dest, st.mode & 0o111 ? 0o755 : 0o644);
}

function stage(argv, cwd = process.cwd()) {
  const { opts } = parseOptions(argv, ['out', 'manifest']);
  const out = path.resolve(cwd, one(opts, 'out'));
  const manifest = readJson(path.resolve(cwd, one(opts, 'manifest')), 'stage manifest');
  fs.mkdirSync(out, { recursive: true });
  for (const [src, dest] of manifest) {
    if (path.isAbsolute(dest) || dest.split('/').includes('..'))
      throw new HelperError(
        'OCIKIT_INTERNAL',
        `bad destination ${dest}`,
        'The rule computed a path outside the build context: report it.',
      );
    copyDeref(path.resolve(cwd, src), path.join(out, dest));
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
    throw new HelperError(
      'OCIKIT_INTERNAL',
      `context ${name}: the resolve output has no descriptor.digest`,
      'The oci_layout_context action wrote it: rebuild; if it persists, report it.',
    );
  }
  if (/[:@]/.test(layoutPath)) {
    throw new HelperError(
      'OCIKIT_CONTEXT_INVALID',
      `context ${name}: layout path ${layoutPath} contains ':' or '@', which buildx misparses`,
      'Rename the package, target or directory of the layout so that its path has neither.',
    );
  }
  const tag = typeof resolved.tag === 'string' ? `:${resolved.tag}` : '';
  return `oci-layout://${layoutPath}${tag}@${digest}`;
}

function config(argv, cwd = process.cwd()) {
  const { opts } = parseOptions(argv, ['spec', 'config-out', 'argv-out', 'run-config-out']);
  const at = (p) => path.resolve(cwd, p);
  const spec = readJson(at(one(opts, 'spec')), 'spec');
  const configs = { exec: { ...spec.config }, run: { ...spec.config, ...spec.run } };
  for (const c of Object.values(configs)) c.buildContext = [];
  for (const ctx of spec.contexts) {
    const resolved = readJson(at(ctx.resolved), `resolve output of context ${ctx.name}`);
    configs.exec.buildContext.push(`${ctx.name}=${pinnedRef(ctx.layout, resolved, ctx.name)}`);
    configs.run.buildContext.push(`${ctx.name}=${pinnedRef(ctx.runLayout, resolved, ctx.name)}`);
  }
  for (const c of Object.values(configs)) if (c.buildContext.length === 0) delete c.buildContext;
  writeAtomic(at(one(opts, 'config-out')), stableJson(configs.exec));
  const argvOut = one(opts, 'argv-out', false);
  if (argvOut !== undefined)
    writeAtomic(at(argvOut), `${JSON.stringify(configToArgv(configs.exec))}\n`);
  const runOut = one(opts, 'run-config-out', false);
  if (runOut !== undefined) writeAtomic(at(runOut), stableJson(configs.run));
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
      throw new HelperError(
        'OCIKIT_INTERNAL',
        `the Dockerfile ${cfg.file} is not inside the context ${cfg.context}`,
        'The rule stages the Dockerfile into the context: report it.',
      );
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

/** A `true`/`false` option of the helper (default false). */
/** A `true` / `false` option (`fallback` when absent). */
function bool(opts, name, fallback = false) {
  const v = one(opts, name, false) ?? String(fallback);
  if (v !== 'true' && v !== 'false') throw new UsageError(`--${name} ${v}: expected true or false`);
  return v === 'true';
}

/**
 * `--hermetic B` and `--unused-context U` of the helper as ocikit flags (build and run); for
 * run also `--rewrite-timestamp B` (ocikit build decides that itself, from the epoch).
 */
function dockerfileFlags(opts, command) {
  const out = [];
  if (bool(opts, 'hermetic')) out.push('--hermetic');
  const unused = one(opts, 'unused-context', false);
  if (unused !== undefined) out.push('--unused-context', unused);
  if (bool(opts, 'rewrite-timestamp') && command === 'run') out.push('--rewrite-timestamp');
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

/** `--verify-base` and `--allow-unknown-platforms` as the CLI's flags (build and run). */
function checkFlags(opts) {
  const flags = [];
  const verifyBase = one(opts, 'verify-base', false) ?? 'size';
  if (verifyBase === 'digest') flags.push('--verify');
  else if (verifyBase !== 'size')
    throw new UsageError(`--verify-base ${verifyBase}: expected size or digest`);
  const allow = one(opts, 'allow-unknown-platforms', false) ?? 'false';
  if (allow === 'true') flags.push('--allow-unknown-platforms');
  else if (allow !== 'false')
    throw new UsageError(`--allow-unknown-platforms ${allow}: expected true or false`);
  return flags;
}

/**
 * Why this action is not protected by a sandbox, or undefined when it is. Two observations:
 * under linux-sandbox every input is a symlink into the execution root, on a file system
 * mounted read-only for the action (writing through the symlink fails with EROFS); without a
 * sandbox (`--spawn_strategy=local`/`standalone`, `no-sandbox`) the inputs are the real files,
 * and under processwrapper-sandbox the symlinks lead to files the action can write.
 * `probes` are input files (execroot-relative): the config, and each context layout's index.json.
 */
function unsandboxedReason(probes) {
  const [first] = probes;
  if (first === undefined) return undefined;
  if (!fs.lstatSync(first).isSymbolicLink())
    return `its inputs are the real files (${first} is not a sandbox symlink)`;
  for (const p of probes) {
    let real;
    try {
      real = fs.realpathSync(p);
      fs.accessSync(real, fs.constants.W_OK);
    } catch {
      continue; // read-only (EROFS under linux-sandbox, or no permission): protected
    }
    return `writes through its input symlinks reach the real files (${p} is writable)`;
  }
  return undefined;
}

/** The index.json of each oci-layout:// context of a config (relative to the cwd). */
function contextIndexFiles(cfg) {
  return (cfg.buildContext ?? []).flatMap((v) => {
    const m = /^[^=]+=oci-layout:\/\/([^:@]*)/.exec(v);
    return m ? [path.join(m[1], 'index.json')] : [];
  });
}

function warnIfUnsandboxed(configPath, cfg) {
  let reason;
  try {
    reason = unsandboxedReason([configPath, ...contextIndexFiles(cfg)]);
  } catch {
    return; // an input that cannot be inspected is reported by ocikit build itself
  }
  if (reason === undefined) return;
  process.stderr.write(
    `ocikit: warning OCIKIT_W_UNSANDBOXED: this buildx_build action is not sandboxed: ${reason}. ` +
      'docker buildx, running as root, may then write into the input layouts (bazel-out). ' +
      'Build with --spawn_strategy=linux-sandbox (see the README, Bazel rules).\n',
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
    'verify-base',
    'allow-unknown-platforms',
    'tlscacert',
    'tlscert',
    'tlskey',
    'hermetic',
    'unused-context',
    'rewrite-timestamp',
    'source-date-epoch',
    'source-date-epoch-key',
    'status-file',
    'warn-unsandboxed',
  ]);
  const cli = path.resolve(one(opts, 'cli'));
  const epoch = sourceDateEpoch(opts);
  const warnUnsandboxed = bool(opts, 'warn-unsandboxed', true);
  const checks = dockerfileFlags(opts, 'build');
  const cwd = process.cwd();
  const configPath = one(opts, 'config');
  const extra = checkFlags(opts);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocikit-bazel-'));
  try {
    const pinned = readJson(configPath, 'config');
    if (warnUnsandboxed) warnIfUnsandboxed(configPath, pinned);
    const cfg = localizeContext(pinned, cwd, tmp);
    const cfgFile = path.join(tmp, 'config.json');
    fs.writeFileSync(cfgFile, stableJson(cfg));
    // The result (or the error) as JSON in a file; the CLI tells an error on stderr as text,
    // which is what Bazel shows.
    const resultFile = path.join(tmp, 'result.json');
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
      '--json-out',
      resultFile,
      ...extra,
    ];
    // TLS material of a tcp:// DOCKER_HOST: ocikit build links it into its private scratch.
    for (const name of [
      'docker',
      'buildx-version',
      'progress',
      'split-platforms',
      'tlscacert',
      'tlscert',
      'tlskey',
    ]) {
      const v = one(opts, name, false);
      if (v !== undefined && v !== '') args.push(`--${name}`, v);
    }
    args.push(...checks);
    if (epoch !== undefined) args.push('--source-date-epoch', epoch);
    const r = spawnSync(process.execPath, args, {
      cwd,
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (r.error) throw r.error;
    if (r.status !== 0) return r.status ?? 1;
    const result = readJson(resultFile, 'ocikit build result');
    for (const w of result.warnings ?? [])
      process.stderr.write(`ocikit: warning ${w.code}: ${w.message}\n`);
    const report = one(opts, 'report', false);
    if (report !== undefined) writeAtomic(path.resolve(report), stableJson(portableReport(result)));
    return 0;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The environment of docker for `bazel run`: `--docker-host` as DOCKER_HOST, and the TLS files
 * as docker reads them (DOCKER_CERT_PATH: ca.pem, cert.pem, key.pem, here symlinks in `tmp` to
 * the runfiles, so the key is never copied; DOCKER_TLS_VERIFY=1). Without them, the caller's.
 */
function daemonEnv(opts, root, tmp) {
  const env = { ...process.env };
  const host = one(opts, 'docker-host', false);
  if (host !== undefined) env.DOCKER_HOST = host;
  const tls = [
    ['tlscacert', 'ca.pem'],
    ['tlscert', 'cert.pem'],
    ['tlskey', 'key.pem'],
  ].map(([flag, name]) => [one(opts, flag, false), name]);
  const given = tls.filter(([file]) => file !== undefined).length;
  if (given === 0) return env;
  if (given !== 3) throw new UsageError('--tlscacert, --tlscert and --tlskey go together');
  const dir = path.join(tmp, 'tls');
  fs.mkdirSync(dir, { mode: 0o700 });
  for (const [file, name] of tls) fs.symlinkSync(path.resolve(root, file), path.join(dir, name));
  env.DOCKER_CERT_PATH = dir;
  env.DOCKER_TLS_VERIFY = '1';
  return env;
}

function run(argv) {
  const { opts, rest } = parseOptions(argv, [
    'cli',
    'config',
    'root',
    'verify-base',
    'allow-unknown-platforms',
    'hermetic',
    'unused-context',
    'rewrite-timestamp',
    'source-date-epoch-key',
    'status-file',
    'docker-host',
    'tlscacert',
    'tlscert',
    'tlskey',
  ]);
  const extra = checkFlags(opts);
  const checks = dockerfileFlags(opts, 'run');
  const root = path.resolve(one(opts, 'root'));
  opts['status-file'] = (opts['status-file'] ?? []).map((f) => path.resolve(root, f));
  const epoch = sourceDateEpoch(opts);
  const cli = path.resolve(root, one(opts, 'cli'));
  const userCwd = process.env.BUILD_WORKING_DIRECTORY || process.cwd();
  const docker = process.env.OCIKIT_DOCKER || 'docker';
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocikit-run-'));
  try {
    const env = daemonEnv(opts, root, tmp);
    const cfg = absoluteContexts(
      localizeContext(readJson(path.resolve(root, one(opts, 'config')), 'config'), root, tmp),
      root,
    );
    if (epoch !== undefined) cfg.buildArg = { SOURCE_DATE_EPOCH: epoch, ...cfg.buildArg };
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
        ...extra,
        ...checks,
        ...rest,
      ],
      { cwd: userCwd, stdio: 'inherit', env },
    );
    if (r.error) throw r.error;
    if (r.status !== 0) return r.status ?? 1;
    const [cmd, ...args] = JSON.parse(fs.readFileSync(argsFile, 'utf8'));
    process.stderr.write(`ocikit: running ${[cmd, ...args].join(' ')}\n`);
    const b = spawnSync(cmd, args, { cwd: userCwd, stdio: 'inherit', env });
    if (b.error) throw b.error;
    return b.status ?? 1;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// verify-archive, load-archive and load: OCI archives (.tar) as layouts, and `docker load`.

/** Run the CLI with `args`; stdout and stderr shown only when it fails (or always, `quiet` false). */
function runCli(cli, args, { quiet = true } = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], {
    stdio: ['ignore', quiet ? 'pipe' : 'inherit', quiet ? 'pipe' : 'inherit'],
    maxBuffer: 64 << 20,
  });
  if (r.error) throw r.error;
  if (r.status !== 0 && quiet) {
    process.stderr.write(r.stdout);
    process.stderr.write(r.stderr);
  }
  return r.status ?? 1;
}

function verifyArchive(argv) {
  const { opts, rest } = parseOptions(argv, ['cli', 'archive']);
  const cli = path.resolve(one(opts, 'cli'));
  const archive = one(opts, 'archive');
  const tmp = fs.mkdtempSync(path.join(process.env.TEST_TMPDIR || os.tmpdir(), 'ocikit-verify-'));
  try {
    const layout = path.join(tmp, 'layout');
    process.stdout.write(`ocikit: unpacking ${archive} (every blob hashed), then verifying it\n`);
    const status = runCli(cli, ['unpack', path.resolve(archive), '--out', layout], {
      quiet: false,
    });
    if (status !== 0) return status;
    return runCli(cli, ['verify', layout, ...rest], { quiet: false });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The descriptor of an `ocikit resolve --json` output, checked. */
function resolvedDescriptor(file) {
  const d = readJson(file, 'resolve output')?.descriptor;
  if (
    typeof d?.mediaType !== 'string' ||
    typeof d.digest !== 'string' ||
    !Number.isSafeInteger(d.size)
  ) {
    throw new HelperError(
      'OCIKIT_INTERNAL',
      `${file}: the resolve output has no descriptor (mediaType, digest, size)`,
      'The resolve action of the same oci_layout_load wrote it: rebuild; if it persists, report it.',
    );
  }
  return d;
}

/** `docker.io/library/app:1` -> `1` (the rules write every name with a tag). */
function tagOf(name) {
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon <= slash) throw new UsageError(`--name ${name} has no tag`);
  return name.slice(colon + 1);
}

function loadArchive(argv) {
  const { opts } = parseOptions(argv, ['cli', 'layout', 'resolved', 'name', 'out', 'info']);
  const cli = path.resolve(one(opts, 'cli'));
  const layout = path.resolve(one(opts, 'layout'));
  const out = path.resolve(one(opts, 'out'));
  const info = one(opts, 'info', false);
  const names = opts.name ?? [];
  if (names.length === 0) throw new UsageError('--name is required');
  const d = resolvedDescriptor(one(opts, 'resolved'));
  const entry = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.platform !== undefined) entry.platform = d.platform;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocikit-load-'));
  try {
    // A thin layout: the same blobs (pack follows the symlink), an index.json naming the one
    // image under every name. containerd's importer (docker load with the containerd image
    // store) names images by io.containerd.image.name, as buildx writes it.
    const dir = path.join(tmp, 'layout');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(layout, 'oci-layout'), path.join(dir, 'oci-layout'));
    fs.symlinkSync(path.join(layout, 'blobs'), path.join(dir, 'blobs'));
    const manifests = names.map((name) => ({
      ...entry,
      annotations: {
        'io.containerd.image.name': name,
        'org.opencontainers.image.ref.name': tagOf(name),
      },
    }));
    fs.writeFileSync(
      path.join(dir, 'index.json'),
      stableJson({
        manifests,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        schemaVersion: 2,
      }),
    );
    // Docker's manifest.json too: the classic image store's docker load reads only that.
    const packed = path.join(tmp, 'pack.json');
    const status = runCli(cli, [
      'pack',
      dir,
      '--out',
      out,
      '--docker-manifest',
      '--json-out',
      packed,
    ]);
    if (status !== 0 || !info) return status;
    // What `load` checks the daemon against (no paths: the file is a cached action output).
    const images = readJson(packed, 'pack output')?.docker?.images ?? [];
    writeAtomic(
      path.resolve(info),
      stableJson({
        digest: d.digest,
        classic: images.map(({ config, manifest }) => ({ config, manifest })),
      }),
    );
    return 0;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The daemon's image store: `containerd` (image IDs are manifest or index digests), `classic`
 * (graph drivers: an image ID is its config's digest, one platform per name), or undefined when
 * `docker info` does not say.
 */
function imageStore(docker, env) {
  const r = spawnSync(docker, ['info', '--format', '{{json .DriverStatus}}'], {
    encoding: 'utf8',
    env,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  if (r.error || r.status !== 0) return undefined;
  let status;
  try {
    status = JSON.parse(r.stdout);
  } catch {
    return undefined;
  }
  if (!Array.isArray(status)) return undefined;
  const containerd = status.some(
    (kv) => Array.isArray(kv) && kv[0] === 'driver-type' && /containerd/.test(String(kv[1])),
  );
  return containerd ? 'containerd' : 'classic';
}

function load(argv) {
  const { opts, rest } = parseOptions(argv, [
    'docker',
    'docker-host',
    'archive',
    'resolved',
    'info',
    'name',
  ]);
  const docker = one(opts, 'docker');
  const host = one(opts, 'docker-host', false);
  const archive = path.resolve(one(opts, 'archive'));
  const names = opts.name ?? [];
  const { digest } = resolvedDescriptor(path.resolve(one(opts, 'resolved')));
  const infoFile = one(opts, 'info', false);
  // The classic store names the image by its config: what load-archive put in manifest.json.
  const classic = infoFile ? (readJson(path.resolve(infoFile), 'load info')?.classic ?? []) : [];
  const env = { ...process.env };
  if (host) env.DOCKER_HOST = host;
  const where = host ? ` (DOCKER_HOST=${host})` : '';
  const store = imageStore(docker, env);
  if (store === 'classic' && infoFile && classic.length === 0) {
    throw new HelperError(
      'OCIKIT_DRIVER_UNSUPPORTED',
      `the daemon${where} uses the classic image store, which holds one platform per name, and ${digest} is a multi-platform index`,
      'Load one platform (oci_layout_load(platform = "linux/amd64")), or switch the daemon to the containerd image store (dockerd: "features": {"containerd-snapshotter": true}).',
    );
  }
  process.stderr.write(`ocikit: ${docker} load -i ${archive}${where}\n`);
  const r = spawnSync(docker, ['load', '-i', archive, ...rest], { stdio: 'inherit', env });
  if (r.error) {
    throw new HelperError(
      'OCIKIT_BUILDX_MISSING',
      `cannot run ${docker}: ${r.error.message}`,
      'Install the docker CLI, or choose it with --@ocikit//:docker (looked up on the PATH of bazel run).',
    );
  }
  if (r.status !== 0) return r.status ?? 1;
  const accepted = new Map([[digest, 'its digest']]);
  for (const c of classic) accepted.set(c.config, `its config ${c.config} (classic image store)`);
  // Trust nothing: every name must now be the image the layout holds.
  for (const name of names) {
    const i = spawnSync(docker, ['image', 'inspect', '--format', '{{.Id}}', name], {
      encoding: 'utf8',
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (i.error) throw i.error;
    if (i.status !== 0)
      throw new HelperError(
        'OCIKIT_OUTPUT_INVALID',
        `docker load succeeded but the daemon has no image ${name}`,
        'Check that the docker CLI and DOCKER_HOST name the daemon that loaded it (docker_host, --@ocikit//:docker_host).',
      );
    const id = i.stdout.trim();
    if (!accepted.has(id)) {
      throw new HelperError(
        'OCIKIT_OUTPUT_INVALID',
        `${name} is ${id} in the daemon, not ${[...accepted.keys()].join(' or ')} (the image of the layout)`,
        'Another image has that name in the daemon: check that docker load succeeded and that nothing retagged it since.',
      );
    }
  }
  const how = store === 'classic' ? ' (classic image store: named by its config)' : '';
  process.stderr.write(`ocikit: loaded ${digest} as ${names.join(', ')}${how}\n`);
  return 0;
}

// ---------------------------------------------------------------------------------------

const COMMANDS = {
  stage,
  config,
  build,
  run,
  'verify-archive': verifyArchive,
  'load-archive': loadArchive,
  load,
};

/** The commands that may run inside another process (the ocikit bundle, its worker). */
const IN_PROCESS = { stage, config };

/** Their names: the ocikit bundle runs the others as a child process (`node helper.mjs ...`). */
export const IN_PROCESS_COMMANDS = Object.keys(IN_PROCESS);

/**
 * Run `stage` or `config` in this process: paths relative to `io.cwd`, messages to
 * `io.stderr`. Never throws, never exits: returns the exit code.
 */
export function runHelper(argv, io) {
  const [cmd, ...rest] = argv;
  const f = Object.hasOwn(IN_PROCESS, cmd) ? IN_PROCESS[cmd] : undefined;
  try {
    if (f === undefined)
      throw new UsageError(
        `usage: helper.mjs ${Object.keys(IN_PROCESS).join('|')} ... (the commands that run in the ocikit process)`,
      );
    return f(rest, io.cwd);
  } catch (e) {
    const r = report(f === undefined ? 'helper.mjs' : cmd, e);
    io.stderr(r.text);
    return r.exitCode;
  }
}

function main() {
  const [cmd, ...argv] = process.argv.slice(2);
  const f = COMMANDS[cmd];
  if (f === undefined)
    die('helper.mjs', new UsageError(`usage: helper.mjs ${Object.keys(COMMANDS).join('|')} ...`));
  try {
    process.exitCode = f(argv);
  } catch (e) {
    die(cmd, e);
  }
}

/** Whether this file is the script node was started with (not imported by another). */
function isMain() {
  try {
    return fs.realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) main();
