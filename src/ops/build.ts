/**
 * `ocikit build`: prepare the contexts (thin copies in a private temporary directory that is
 * always removed), run `docker buildx build --progress=rawjson --metadata-file ...`, read the
 * whole stream, and trust nothing: the output must exist, verify, hold the digest buildx
 * reported and carry every requested annotation. Only then is it renamed to `--out`.
 */
import { spawn } from 'node:child_process';
import { constants as fsc, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  missingAnnotations,
  parseAnnotation,
  repairAnnotations,
  type AnnotationRequest,
  type MissingAnnotation,
} from '../buildx/annotations.js';
import { buildxInvocation, classifyContext, type InvocationOptions } from './buildx-args.js';
import type { BuildFlags } from '../buildx/flags.js';
import {
  SCRATCH_EXPORT_CRASH,
  describeBuilder,
  hasScratchExportCrash,
  inspectBuilder,
  type BuilderInfo,
} from '../buildx/builder.js';
import { builderUnreachable, preflight, spawnRunner, type Runner } from '../buildx/preflight.js';
import {
  checkEndpoint,
  endpointEnv,
  endpointInputs,
  type DaemonEndpoint,
} from '../buildx/endpoint.js';
import { packLayout } from '../archive/pack.js';
import { mergeIndex } from './index-merge.js';
import { Annotation } from '../layout/media-types.js';
import { formatPlatform, parsePlatform } from '../layout/platform.js';
import { resolve, type ResolveOptions } from '../layout/resolve.js';
import { resolveBase } from './base-check.js';
import { buildxBehaviour } from '../buildx/compat.js';
import { RawJsonStream, type StreamEvent, type Vertex } from '../buildx/stream.js';
import type { PreparedContext } from './context.js';
import { extractLayoutArchive } from '../archive/unpack.js';
import { ErrorCode, OcikitError, errnoCode, isOcikitError } from '../errors.js';
import { openLayout } from '../layout/layout.js';
import { OutputSet, withOutputs, type InputPath } from '../output/outputs.js';
import type { Descriptor, Warning } from '../layout/schema.js';
import { verifyLayout } from '../layout/verify.js';

/** Options of {@link build}. */
export interface BuildOptions extends Omit<InvocationOptions, 'out'> {
  /** The output: an OCI layout directory, or a tarball when it ends in `.tar`. Absolute. */
  out: string;
  /** Environment for buildx. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * The daemon: DOCKER_HOST and, for tcp://, TLS material (see {@link DaemonEndpoint}).
   * Default: the environment's DOCKER_HOST / docker context.
   */
  endpoint?: DaemonEndpoint;
  /** Rewrite the output index to add missing index-level annotations instead of failing. */
  repairAnnotations?: boolean;
  /** Give buildx a private DOCKER_CONFIG copy: always, never, or when the current one is read-only. Default auto. */
  privateDockerConfig?: 'auto' | 'always' | 'never';
  /** Check the builder's driver before building (default true). */
  preflight?: boolean;
  /** Progress events, in stream order. */
  onEvent?: (e: StreamEvent) => void;
  /** One-line notes for people (which split mode ran and why). */
  onNote?: (text: string) => void;
  /** Build multi-platform images one platform at a time, then merge (default auto; see {@link SplitMode}). */
  splitPlatforms?: SplitMode;
  /** Runs docker for builder inspection (tests inject one). */
  runner?: Runner;
}

/** The result of a successful {@link build}. */
export interface BuildResult {
  out: string;
  format: 'layout' | 'tar';
  /** The image digest in the output (after any annotation repair). */
  digest: string;
  /** What buildx reported (differs from `digest` after a repair). */
  buildxDigest: string;
  descriptor: Descriptor;
  steps: { total: number; cached: number };
  annotations: { requested: number; repaired: MissingAnnotation[] };
  contexts: PreparedContext[];
  argv: string[];
  warnings: Warning[];
  /** Multi-platform builds: whether they were built one platform at a time, and why. */
  split?: {
    mode: SplitMode;
    split: boolean;
    reason: string;
    /** Per platform: the digest its own build produced. */
    platforms: { platform: string; digest: string }[];
  };
}

const OWN_FLAGS: (keyof BuildFlags)[] = [
  'output',
  'push',
  'load',
  'progress',
  'metadataFile',
  'iidfile',
  'call',
  'check',
];

function tail(lines: readonly string[], n = 10): string[] {
  return lines.slice(Math.max(0, lines.length - n));
}

async function writableDir(dir: string): Promise<boolean> {
  try {
    await fsp.access(dir, fsc.W_OK);
    return true;
  } catch (e) {
    return errnoCode(e) === 'ENOENT' ? writableDir(path.dirname(dir)) : false;
  }
}

/** A private copy of the docker client config: config.json and contexts copied, cli-plugins linked. */
async function privateDockerConfig(env: NodeJS.ProcessEnv, into: string): Promise<string> {
  const src = env['DOCKER_CONFIG'] ?? path.join(env['HOME'] ?? os.homedir(), '.docker');
  await fsp.mkdir(into, { mode: 0o700 });
  await fsp
    .copyFile(path.join(src, 'config.json'), path.join(into, 'config.json'))
    .catch(() => undefined);
  await fsp
    .cp(path.join(src, 'contexts'), path.join(into, 'contexts'), { recursive: true })
    .catch(() => undefined);
  const plugins = await fsp.realpath(path.join(src, 'cli-plugins')).catch(() => undefined);
  if (plugins !== undefined) await fsp.symlink(plugins, path.join(into, 'cli-plugins'));
  return into;
}

/** Classify a failed run by what buildx said. */
function failure(
  stream: RawJsonStream,
  exit: { code: number | null; signal: NodeJS.Signals | null },
  stdout: string,
): OcikitError {
  const all = [...stream.text, ...stdout.split('\n')].join('\n');
  if (/is not a docker command|unknown command "buildx"|unknown flag: --build-context/.test(all)) {
    return new OcikitError(ErrorCode.BuildxMissing, 'the docker CLI has no buildx plugin', {
      hint: 'Install docker-buildx (Debian: apt-get install docker-buildx) or pass --docker to a docker CLI that has it.',
    });
  }
  if (
    /Cannot connect to the Docker daemon|connection refused|dial unix .*: connect: (no such file|permission denied)|error during connect|Client sent an HTTP request to an HTTPS server|remote error: tls:|x509:/i.test(
      all,
    )
  ) {
    return builderUnreachable(
      'the builder cannot be reached',
      tail(stream.errorLines().length > 0 ? stream.errorLines() : stream.text, 1).join(''),
    );
  }
  if (
    /not supported for the docker driver|unknown scheme oci-layout|OCI exporter is not supported/i.test(
      all,
    )
  ) {
    return new OcikitError(
      ErrorCode.DriverUnsupported,
      'the builder uses the docker driver without the containerd image store, which cannot read oci-layout contexts or write OCI outputs',
      {
        hint: 'Enable the containerd image store in the daemon ({"features":{"containerd-snapshotter":true}} in daemon.json) or use a docker-container builder (--builder).',
      },
    );
  }
  const [failed] = stream.failedVertexes();
  if (failed !== undefined) return stepFailure(failed, stream);
  const errors = stream.errorLines();
  if (errors.length > 0) {
    return new OcikitError(ErrorCode.SolveFailed, errors.join('\n'), {
      hint: 'See the message above; the build never reached a step that reported the error.',
      details: { output: tail(stream.text) },
    });
  }
  const how =
    exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return new OcikitError(
    ErrorCode.BuildxFailed,
    `docker buildx build ${how}${stream.text.length > 0 ? `: ${tail(stream.text, 3).join(' | ')}` : ''}`,
    {
      hint: "Run the printed command by hand (ocikit buildx-args) to see buildx's own output.",
      details: { output: tail(stream.text) },
    },
  );
}

function stepFailure(v: Vertex, stream: RawJsonStream): OcikitError {
  const logs = tail(v.logs);
  return new OcikitError(
    ErrorCode.SolveFailed,
    `step "${v.name}" failed: ${v.error ?? 'error'}${logs.length > 0 ? `\n${logs.map((l) => `  | ${l}`).join('\n')}` : ''}`,
    {
      hint: 'Fix the Dockerfile step named above (its last log lines are shown).',
      details: { step: v.name, logs, output: tail(stream.text) },
    },
  );
}

async function readMetadata(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Run a build and publish its verified result at `options.out`.
 * @throws OcikitError `OCIKIT_BUILDX_MISSING`, `OCIKIT_BUILDER_UNREACHABLE`, `OCIKIT_DRIVER_UNSUPPORTED`,
 *   `OCIKIT_SOLVE_FAILED`, `OCIKIT_BUILDX_FAILED`, `OCIKIT_STREAM_INCOMPLETE`, `OCIKIT_OUTPUT_INVALID`,
 *   `OCIKIT_ANNOTATIONS_MISSING`, `OCIKIT_USAGE`, and every context error
 */
export async function build(
  flags: BuildFlags,
  contextDir: string | undefined,
  options: BuildOptions,
): Promise<BuildResult> {
  for (const key of OWN_FLAGS) {
    if (flags[key] !== undefined) {
      throw new OcikitError(
        ErrorCode.Usage,
        `ocikit build sets --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} itself; drop it`,
        {
          hint: 'The result goes to --out (a layout directory, or FILE.tar); use ocikit buildx-args for other outputs.',
        },
      );
    }
  }
  const cwd = options.cwd ?? process.cwd();
  const endpoint = options.endpoint ?? {};
  checkEndpoint(endpoint, options.env ?? process.env);
  // Every layout or archive a context names is an input: --out is checked against them first.
  const inputs: InputPath[] = [...endpointInputs(endpoint, cwd)];
  for (const arg of flags.buildContext ?? []) {
    const c = await classifyContext(arg, cwd);
    if (c.layout !== undefined)
      inputs.push({
        path: path.resolve(cwd, c.layout.ref.path),
        label: `layout of context ${c.name}`,
      });
  }
  if (contextDir !== undefined && contextDir !== '' && contextDir !== '-')
    inputs.push({ path: path.resolve(cwd, contextDir), label: `build context ${contextDir}` });
  // The Dockerfile too: the CLI declares a -f given on the command line, not one from --config.
  if (flags.file !== undefined && flags.file !== '-')
    inputs.push({ path: path.resolve(cwd, flags.file), label: `Dockerfile ${flags.file}` });
  return withOutputs(options.outputs, inputs, cwd, async (set) => {
    await set.declare('--out', options.out, options.out.endsWith('.tar') ? 'file' : 'dir');
    // The contexts get a set of their own: they are committed (into the scratch directory)
    // before buildx reads them, and removed with it.
    const contexts = new OutputSet({ cwd });
    try {
      return await runBuild(flags, contextDir, options, set, contexts);
    } finally {
      await contexts.close();
    }
  });
}

async function runBuild(
  flags: BuildFlags,
  contextDir: string | undefined,
  options: BuildOptions,
  set: OutputSet,
  contextSet: OutputSet,
): Promise<BuildResult> {
  const out = options.out;
  const format: BuildResult['format'] = out.endsWith('.tar') ? 'tar' : 'layout';
  // The output is written beside --out and committed only when it checked out.
  const pending = format === 'layout' ? await set.dir('--out', out) : await set.file('--out', out);
  const tmpRoot = await set.scratch('build');
  // DOCKER_HOST and the TLS directory (symlinks to the given files, in scratch) for every
  // docker command of this run.
  const env = await endpointEnv(
    options.endpoint ?? {},
    options.env ?? process.env,
    tmpRoot,
    options.cwd ?? process.cwd(),
  );
  const docker = options.docker ?? 'docker';
  const configMode = options.privateDockerConfig ?? 'auto';
  const currentConfig = env['DOCKER_CONFIG'] ?? path.join(env['HOME'] ?? os.homedir(), '.docker');
  if (configMode === 'always' || (configMode === 'auto' && !(await writableDir(currentConfig)))) {
    env['DOCKER_CONFIG'] = await privateDockerConfig(env, path.join(tmpRoot, 'docker-config'));
  }
  const job0 = { flags, options, cwd: options.cwd ?? process.cwd() };
  // The bases first: a missing or wrong blob stops the build before docker is asked anything.
  await checkBases(job0.flags, job0.options, job0.cwd);
  if (options.preflight !== false) await preflight(docker, flags.builder, env);
  const job: BuildJob = {
    flags,
    contextDir,
    options,
    set,
    contextSet,
    dest: pending.tmp,
    format,
    tmpRoot,
    env,
    suffix: '',
  };
  const plan = await planSplit(job);
  if (plan.split)
    options.onNote?.(
      `building ${plan.platforms.join(', ')} one platform at a time (--split-platforms=${plan.mode}): ${plan.reason}`,
    );
  else if (plan.reason !== '')
    options.onNote?.(`building in one pass (--split-platforms=${plan.mode}): ${plan.reason}`);
  const result = plan.split ? await buildSplit(job, plan) : await buildOnce(job);
  if (plan.platforms.length > 1)
    result.split = {
      mode: plan.mode,
      split: plan.split,
      reason: plan.reason,
      platforms: result.split?.platforms ?? [],
    };
  return result;
}

/** {@link resolveBase} on every oci-layout context directory (archives are checked as they unpack). */
async function checkBases(flags: BuildFlags, options: BuildOptions, cwd: string): Promise<void> {
  for (const arg of flags.buildContext ?? []) {
    const c = await classifyContext(arg, cwd);
    if (c.layout === undefined) continue;
    const abs = path.resolve(cwd, c.layout.ref.path);
    if ((await fsp.stat(abs).catch(() => undefined))?.isFile() !== false) continue;
    const layout = await openLayout(abs, {
      strict: options.strict ?? false,
      name: c.layout.ref.path,
    });
    const selection: ResolveOptions = { tagOrder: buildxBehaviour(options.buildx).tagOrder };
    if (c.layout.ref.tag !== undefined) selection.tag = c.layout.ref.tag;
    if (c.layout.ref.digest !== undefined) selection.digest = c.layout.ref.digest;
    await resolveBase(layout, selection, {
      hash: options.verify === true,
      label: `build context ${c.name}`,
    });
  }
}

/** One run of buildx into `dest`, read to the end and checked. */
interface BuildJob {
  flags: BuildFlags;
  contextDir: string | undefined;
  options: BuildOptions;
  set: OutputSet;
  contextSet: OutputSet;
  /** Where buildx writes (a directory for layouts, a file path for tarballs). */
  dest: string;
  format: BuildResult['format'];
  tmpRoot: string;
  env: NodeJS.ProcessEnv;
  /** Tells this run's scratch files from the others' (split builds). */
  suffix: string;
}

async function buildOnce(job: BuildJob): Promise<BuildResult> {
  const { flags, contextDir, options, set, contextSet, dest, format, tmpRoot, env } = job;
  const annotationRequests = (flags.annotation ?? []).map(parseAnnotation);
  const out = options.out;
  const metadataFile = path.join(tmpRoot, `metadata${job.suffix}.json`);
  const buildFlags: BuildFlags = {
    ...flags,
    output: [`type=oci,dest=${dest}${format === 'layout' ? ',tar=false' : ''}`],
    metadataFile,
    progress: 'rawjson',
  };
  const { docker: _d, outputs: _o, ...invocationRest } = options;
  const inv = await buildxInvocation(buildFlags, contextDir, {
    ...invocationRest,
    out: path.join(tmpRoot, `contexts${job.suffix}`),
    docker: options.docker ?? 'docker',
    outputs: contextSet,
  });
  await contextSet.commit();
  const stream = new RawJsonStream(options.onEvent);
  let stdout = '';
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      const [cmd, ...args] = inv.argv as [string, ...string[]];
      set.throwIfInterrupted();
      const child = spawn(cmd, args, {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: options.cwd ?? process.cwd(),
        signal: set.signal,
      });
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => stream.push(d));
      child.on('error', (e) => {
        if (set.interrupted !== undefined) return; // killed on SIGINT/SIGTERM: 'close' follows
        reject(
          errnoCode(e) === 'ENOENT'
            ? new OcikitError(ErrorCode.BuildxMissing, `${cmd}: not found`, {
                hint: 'Install the docker CLI with buildx, or pass --docker PATH.',
              })
            : e,
        );
      });
      child.on('close', (code, signal) => {
        if (set.interrupted !== undefined) {
          try {
            set.throwIfInterrupted();
          } catch (e) {
            reject(e);
          }
        }
        resolve({ code, signal });
      });
    },
  );
  const cut = stream.end();
  // A step error is always fatal. ERROR: lines are fatal with a failed exit; with exit 0 they
  // are client-side noise (buildx 0.29 logs content-store lock races while exporting several
  // platforms) and become warnings: the checks below prove the result either way.
  if (exit.code !== 0 || stream.failedVertexes().length > 0)
    throw await crashed(failure(stream, exit, stdout), stream, job);
  const noise = stream.errorLines();
  if (cut !== undefined) {
    throw new OcikitError(
      ErrorCode.StreamIncomplete,
      'the progress stream ended in the middle of a JSON record',
      {
        hint: 'buildx was interrupted; rerun the build.',
      },
    );
  }
  const unfinished = stream.unfinishedVertexes();
  if (unfinished.length > 0) {
    throw new OcikitError(
      ErrorCode.StreamIncomplete,
      `buildx exited 0 but ${unfinished.length} step(s) never finished: ${unfinished.map((v) => JSON.stringify(v.name)).join(', ')}`,
      {
        hint: 'buildx was interrupted or its output was cut; rerun the build.',
        details: { steps: unfinished.map((v) => v.name) },
      },
    );
  }
  const metadata = await readMetadata(metadataFile);
  const buildxDigest = metadata?.['containerimage.digest'];
  if (typeof buildxDigest !== 'string') {
    throw new OcikitError(
      ErrorCode.OutputInvalid,
      'buildx exited 0 but wrote no metadata with containerimage.digest',
      {
        hint: 'The build did not produce an image; check the Dockerfile and the builder.',
      },
    );
  }

  // Check the result.
  let layoutDir = dest;
  if (format === 'tar') {
    layoutDir = path.join(tmpRoot, `unpacked${job.suffix}`);
    await fsp.mkdir(layoutDir);
    // The one archive reader (ocikit unpack's): no links, no devices, safe paths, every
    // blob hashed while it streams.
    await extractLayoutArchive(dest, layoutDir, { name: 'the build output tarball' }).catch(
      (e: unknown) => {
        const why = isOcikitError(e) ? `${e.code}: ${e.message}` : String(e);
        throw new OcikitError(
          ErrorCode.OutputInvalid,
          `the output tarball is not a valid OCI archive (${why})`,
          {
            hint: 'The builder wrote a broken archive; rerun the build.',
            cause: e,
          },
        );
      },
    );
  }
  const check = async (): Promise<{ descriptor: Descriptor; missing: MissingAnnotation[] }> => {
    const layout = await openLayout(layoutDir, { name: 'build output' });
    const report = await verifyLayout(layout);
    if (!report.ok) {
      throw new OcikitError(
        ErrorCode.OutputInvalid,
        `the output layout is incomplete: ${report.problems.map((p) => p.message).join('; ')}`,
        {
          hint: 'The builder wrote a broken layout; rerun the build.',
          details: { problems: report.problems },
        },
      );
    }
    return {
      descriptor: layout.index.manifests.find((d) => d.digest === buildxDigest) as Descriptor,
      missing: await missingAnnotations(layout, buildxDigest, annotationRequests),
    };
  };
  let { descriptor, missing } = await check();
  let digest = buildxDigest;
  let repaired: MissingAnnotation[] = [];
  if (missing.length > 0 && options.repairAnnotations === true && format === 'layout') {
    const r = await repairAnnotations(await openLayout(layoutDir), buildxDigest, missing);
    repaired = missing.filter((m) => !r.unrepaired.includes(m));
    digest = r.digest;
    const layout = await openLayout(layoutDir, { name: 'build output' });
    if (!(await verifyLayout(layout)).ok)
      throw new OcikitError(ErrorCode.Internal, 'the repaired output does not verify', {
        hint: 'Please report this.',
      });
    descriptor = layout.index.manifests.find((d) => d.digest === digest) as Descriptor;
    missing = await missingAnnotations(layout, digest, annotationRequests);
  }
  if (missing.length > 0) {
    throw new OcikitError(
      ErrorCode.AnnotationsMissing,
      `the output lacks ${missing.length} requested annotation(s): ${missing.map((m) => `${m.target}${m.platform !== undefined ? `[${m.platform}]` : ''}:${m.key}=${m.value} on ${m.where}${m.actual !== undefined ? ` (has ${JSON.stringify(m.actual)})` : ''}`).join('; ')}`,
      {
        hint:
          missing.every((m) => m.target !== 'manifest') && format === 'layout'
            ? 'Pass --repair-annotations to add them to the output index (a known buildx multi-node merge bug drops them).'
            : 'The builder dropped them; manifest-level annotations cannot be added afterwards without changing digests.',
        details: { missing },
      },
    );
  }
  const steps = [...stream.vertexes.values()];
  return {
    out,
    format,
    digest,
    buildxDigest,
    descriptor,
    steps: { total: steps.length, cached: steps.filter((v) => v.cached).length },
    annotations: { requested: annotationRequests.length, repaired },
    contexts: inv.prepared.contexts,
    argv: inv.argv,
    warnings: [
      ...inv.warnings,
      ...stream.warnings.map((message) => ({ code: 'OCIKIT_W_BUILDX', message })),
      ...noise.map((line) => ({
        code: 'OCIKIT_W_BUILDX_ERROR_LINE',
        message: `buildx printed "${line.trim()}" but exited 0; the output was verified`,
      })),
    ],
  };
}

/**
 * A stream that ends with `Unavailable … EOF` or `… connection reset by peer` (the connection to
 * BuildKit dropped) followed by a
 * daemon that no longer answers is the builder crashing, not the build failing.
 */
async function crashed(
  err: OcikitError,
  stream: RawJsonStream,
  job: BuildJob,
): Promise<OcikitError> {
  const text = [...stream.text, err.message].join('\n');
  // buildx words the broken connection several ways ("… EOF", "connection reset by peer");
  // whether the daemon still answers decides.
  if (!/\bUnavailable\b|connection reset by peer|\bEOF\b/.test(text)) return err;
  const docker = job.options.docker ?? 'docker';
  const probe = await (job.options.runner ?? spawnRunner)(
    [docker, 'version', '--format', '{{.Server.Version}}'],
    job.env,
  );
  if (probe.code === 0) return err;
  const multi = (job.flags.platform ?? []).length > 1;
  return new OcikitError(
    ErrorCode.BuilderCrashed,
    `the builder crashed during the build (the stream ended with "Unavailable … EOF" and the daemon no longer answers)${multi ? `; on a multi-platform build this is likely the BuildKit OCI exporter crash on an empty platform: ${SCRATCH_EXPORT_CRASH.summary}` : ''}`,
    {
      hint: multi
        ? 'Restart the docker daemon, then build with --split-platforms=always (or auto), or upgrade to dockerd >= 28.3.0 / BuildKit >= 0.23.0.'
        : 'Restart the docker daemon and look at its log (journalctl -u docker) for the panic.',
      details: { output: stream.text.slice(-10) },
      cause: err,
    },
  );
}

/** How `--split-platforms` decided. */
interface SplitPlan {
  mode: SplitMode;
  split: boolean;
  /** Why, in one sentence ('' when there was nothing to decide: one platform). */
  reason: string;
  platforms: string[];
}

/** `--split-platforms`: auto (split on affected or unknown builders when a platform may be empty), always, never. */
export type SplitMode = 'auto' | 'always' | 'never';

/**
 * Decide whether to build platform by platform: only for multi-platform builds; `always`
 * splits, `never` does not; `auto` splits when the builder may have the OCI exporter crash on
 * an empty platform ({@link SCRATCH_EXPORT_CRASH}; unknown counts as affected) and some
 * platform's result may be empty: its base image (an oci-layout context) has zero layers for
 * that platform, or the Dockerfile has a `FROM scratch` stage.
 */
async function planSplit(job: BuildJob): Promise<SplitPlan> {
  const { flags, options } = job;
  const mode = options.splitPlatforms ?? 'auto';
  const platforms = [...new Set(flags.platform ?? [])];
  const plan: SplitPlan = { mode, split: false, reason: '', platforms };
  if (platforms.length < 2) return plan;
  if (mode === 'never') return { ...plan, reason: 'asked for' };
  if (mode === 'always') return { ...plan, split: true, reason: 'asked for' };
  const empty = await emptyPlatforms(job, platforms);
  if (empty.length === 0) {
    return { ...plan, reason: 'no platform starts from an empty (zero-layer) base' };
  }
  const info = await inspectBuilder(
    options.docker ?? 'docker',
    flags.builder,
    job.env,
    options.runner ?? spawnRunner,
  ).catch(() => ({ name: '', driver: '' }) as BuilderInfo);
  const affected = hasScratchExportCrash(info);
  const why = `${empty.join('; ')}, and ${describeBuilder(info)}`;
  if (affected === false) {
    return { ...plan, reason: `${why} has the fix (${SCRATCH_EXPORT_CRASH.commit})` };
  }
  return {
    ...plan,
    split: true,
    reason: `${why} ${affected === undefined ? 'may have' : 'has'} the crash: ${SCRATCH_EXPORT_CRASH.summary}`,
  };
}

/** "base has zero layers for linux/arm64" for each oci-layout context; "FROM scratch" stages. */
async function emptyPlatforms(job: BuildJob, platforms: readonly string[]): Promise<string[]> {
  const cwd = job.options.cwd ?? process.cwd();
  const found: string[] = [];
  for (const arg of job.flags.buildContext ?? []) {
    const c = await classifyContext(arg, cwd);
    if (c.layout === undefined) continue;
    let layout;
    try {
      layout = await openLayout(path.resolve(cwd, c.layout.ref.path), { name: c.layout.ref.path });
    } catch {
      continue; // an archive, or broken: the build reports it
    }
    for (const platform of platforms) {
      const selection: ResolveOptions = { platform };
      if (c.layout.ref.tag !== undefined) selection.tag = c.layout.ref.tag;
      if (c.layout.ref.digest !== undefined) selection.digest = c.layout.ref.digest;
      const r = await resolve(layout, selection).catch(() => undefined);
      if (r?.layers === 0) found.push(`context ${c.name} has zero layers for ${platform}`);
    }
  }
  if (job.flags.file !== '-') {
    const dockerfile = path.resolve(
      cwd,
      job.flags.file ?? path.join(job.contextDir ?? '.', 'Dockerfile'),
    );
    const text = await fsp.readFile(dockerfile, 'utf8').catch(() => '');
    if (/^\s*FROM\s+(?:--platform=\S+\s+)?scratch\b/im.test(text))
      found.push('the Dockerfile has a FROM scratch stage');
  }
  return found;
}

/** Annotations for the per-platform builds (index-level ones are applied by the merge). */
function splitAnnotations(requests: readonly AnnotationRequest[]): {
  perPlatform: string[];
  index: Record<string, string>;
  indexDescriptor: Record<string, string>;
} {
  const perPlatform: string[] = [];
  const index: Record<string, string> = {};
  const indexDescriptor: Record<string, string> = {};
  for (const r of requests) {
    if (r.targets.includes('index')) index[r.key] = r.value;
    if (r.targets.includes('index-descriptor')) indexDescriptor[r.key] = r.value;
    const rest = r.targets.filter((t) => t !== 'index' && t !== 'index-descriptor');
    if (rest.length === 0) continue;
    const platform = r.platform !== undefined ? `[${formatPlatform(r.platform)}]` : '';
    perPlatform.push(`${rest.join(',')}${platform}:${r.key}=${r.value}`);
  }
  return { perPlatform, index, indexDescriptor };
}

/**
 * Build each platform on its own (same contexts, args, labels, attestations), then merge the
 * results with `ocikit index`'s code into one index: index annotations applied, per-descriptor
 * annotations and attestations carried. The result is checked like any build.
 */
async function buildSplit(job: BuildJob, plan: SplitPlan): Promise<BuildResult> {
  const { flags, options, tmpRoot } = job;
  const requests = (flags.annotation ?? []).map(parseAnnotation);
  const ann = splitAnnotations(requests);
  const results: { platform: string; dir: string; result: BuildResult }[] = [];
  for (const [i, platform] of plan.platforms.entries()) {
    job.set.throwIfInterrupted();
    const dir = path.join(tmpRoot, `platform-${i}`);
    await fsp.mkdir(dir);
    const contextSet = new OutputSet({ cwd: options.cwd ?? process.cwd() });
    try {
      const one: BuildFlags = { ...flags, platform: [platform], annotation: ann.perPlatform };
      if (ann.perPlatform.length === 0) delete one.annotation;
      const result = await buildOnce({
        ...job,
        flags: one,
        contextSet,
        dest: dir,
        format: 'layout',
        suffix: `-${i}`,
        options: { ...options, repairAnnotations: false },
      });
      results.push({ platform, dir, result });
    } finally {
      await contextSet.close();
    }
  }
  // One index over the per-platform results; tags as buildx wrote them for the first.
  const first = await openLayout(results[0]?.dir as string, { name: 'build output' });
  const tags = [
    ...new Set(
      first.index.manifests.flatMap((d) => {
        const t = d.annotations?.[Annotation.RefName];
        return t !== undefined ? [t] : [];
      }),
    ),
  ];
  // A layout output is merged straight into the pending --out (empty, on the output's file
  // system: no rename across devices); a tarball's layout is merged in scratch and packed.
  const mergedDir = job.format === 'layout' ? job.dest : path.join(tmpRoot, 'merged');
  const merged = await mergeIndex(
    results.map((r) => r.dir),
    mergedDir,
    { annotations: ann.index, descriptorAnnotations: ann.indexDescriptor, tags, oci: true },
  );
  // The check every build gets: the output verifies, holds every platform, carries the annotations.
  const layout = await openLayout(mergedDir, { name: 'merged build output' });
  const report = await verifyLayout(layout);
  if (!report.ok) {
    throw new OcikitError(
      ErrorCode.OutputInvalid,
      `the merged output layout is incomplete: ${report.problems.map((p) => p.message).join('; ')}`,
      { hint: 'Rerun the build.', details: { problems: report.problems } },
    );
  }
  const platformsIn = new Set(
    merged.manifests.flatMap((m) =>
      m.platform !== undefined && !m.attestation ? [formatPlatform(parsePlatform(m.platform))] : [],
    ),
  );
  const lost = plan.platforms.filter((p) => !platformsIn.has(formatPlatform(parsePlatform(p))));
  if (lost.length > 0) {
    throw new OcikitError(
      ErrorCode.OutputInvalid,
      `the merged output lacks platform(s) ${lost.join(', ')}`,
      { hint: 'Rerun the build.' },
    );
  }
  const missing = await missingAnnotations(layout, merged.descriptor.digest, requests);
  if (missing.length > 0) {
    throw new OcikitError(
      ErrorCode.AnnotationsMissing,
      `the merged output lacks ${missing.length} requested annotation(s): ${missing.map((m) => `${m.target}:${m.key}=${m.value} on ${m.where}`).join('; ')}`,
      { hint: 'The builder dropped them.', details: { missing } },
    );
  }
  if (job.format === 'tar') await packLayout(layout, job.dest);
  const descriptor = layout.index.manifests.find(
    (d) => d.digest === merged.descriptor.digest,
  ) as Descriptor;
  return {
    out: options.out,
    format: job.format,
    digest: merged.descriptor.digest,
    buildxDigest: merged.descriptor.digest,
    descriptor,
    steps: results.reduce(
      (n, r) => ({
        total: n.total + r.result.steps.total,
        cached: n.cached + r.result.steps.cached,
      }),
      { total: 0, cached: 0 },
    ),
    annotations: { requested: requests.length, repaired: [] },
    contexts: results[0]?.result.contexts ?? [],
    argv: results[0]?.result.argv ?? [],
    warnings: [...results.flatMap((r) => r.result.warnings), ...merged.warnings],
    split: {
      mode: plan.mode,
      split: true,
      reason: plan.reason,
      platforms: results.map((r) => ({ platform: r.platform, digest: r.result.digest })),
    },
  };
}
