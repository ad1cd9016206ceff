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
import {
  buildxInvocation,
  classifyContext,
  dockerfileCheckOptions,
  type InvocationOptions,
} from './buildx-args.js';
import {
  checkDockerfile,
  pullSummary,
  type DockerfileCheck,
  type PullSummary,
} from './dockerfile-check.js';
import type { BuildFlags } from '../buildx/flags.js';
import {
  REWRITE_TIMESTAMP,
  SCRATCH_EXPORT_CRASH,
  describeBuilder,
  hasScratchExportCrash,
  inspectBuilder,
  supportsRewriteTimestamp,
  type BuilderInfo,
} from '../buildx/builder.js';
import { preflight, spawnRunner, type Runner } from '../buildx/preflight.js';
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
import { ErrorCode, OcikitError, errnoCode, isOcikitError, quote } from '../errors.js';
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
  /**
   * SOURCE_DATE_EPOCH of the build (seconds since 1970, decimal): passed as the build argument
   * of that name, and the OCI exporter is asked to rewrite layer timestamps to it
   * (`rewrite-timestamp=true`) where the builder supports it. A `--build-arg SOURCE_DATE_EPOCH`
   * (or, for buildx >= 0.11, SOURCE_DATE_EPOCH in `env`) has the same effect.
   */
  sourceDateEpoch?: string;
}

/** How reproducible a build was asked to be, and what the builder could do. */
export interface Reproducible {
  /** The epoch in effect, or null (buildx then records the build time). */
  sourceDateEpoch: string | null;
  /** Where it came from. */
  from: 'option' | 'build-arg' | 'env' | null;
  /** Whether `rewrite-timestamp=true` was passed to the OCI exporter. */
  rewriteTimestamp: boolean;
  /** Whether the builder rewrites layer timestamps: true, false, or null (unknown). */
  supported: boolean | null;
  /** The builder, as far as known (`dockerd 28.5.2 (embedded BuildKit 0.25.2)`). */
  builder: string | null;
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
  /** SOURCE_DATE_EPOCH and rewrite-timestamp (see {@link Reproducible}). */
  reproducible: Reproducible;
  /** Images the Dockerfile makes BuildKit pull from a registry (absent when it was not read). */
  pulls?: PullSummary[];
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
    /Cannot connect to the Docker daemon|connection refused|dial unix .*: connect: (no such file|permission denied)|error during connect/i.test(
      all,
    )
  ) {
    return new OcikitError(
      ErrorCode.BuilderUnreachable,
      `the builder cannot be reached: ${tail(stream.errorLines().length > 0 ? stream.errorLines() : stream.text, 1).join('')}`,
      {
        hint: 'Start the docker daemon, or point DOCKER_HOST / the docker context at a running one.',
      },
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
  // Every layout or archive a context names is an input: --out is checked against them first.
  const inputs: InputPath[] = [];
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
  const env = { ...(options.env ?? process.env) };
  // The output is written beside --out and committed only when it checked out.
  const pending = format === 'layout' ? await set.dir('--out', out) : await set.file('--out', out);
  const tmpRoot = await set.scratch('build');
  const docker = options.docker ?? 'docker';
  const configMode = options.privateDockerConfig ?? 'auto';
  const currentConfig = env['DOCKER_CONFIG'] ?? path.join(env['HOME'] ?? os.homedir(), '.docker');
  if (configMode === 'always' || (configMode === 'auto' && !(await writableDir(currentConfig)))) {
    env['DOCKER_CONFIG'] = await privateDockerConfig(env, path.join(tmpRoot, 'docker-config'));
  }
  const cwd = options.cwd ?? process.cwd();
  const epoch = sourceDateEpoch(flags, options, env);
  if (epoch.from === 'option')
    flags = { ...flags, buildArg: [...(flags.buildArg ?? []), `SOURCE_DATE_EPOCH=${epoch.value}`] };
  // What the Dockerfile pulls, before anything else (--hermetic refuses here, with no output).
  const checked = await checkDockerfile(flags, contextDir, {
    ...dockerfileCheckOptions(options, cwd),
    env,
  });
  // The bases next: a missing or wrong blob stops the build before docker is asked anything.
  await checkBases(flags, options, cwd);
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
    rewriteTimestamp: false,
    checked,
  };
  const reproducible = await planReproducible(job, epoch);
  job.rewriteTimestamp = reproducible.rewriteTimestamp;
  if (epoch.value !== undefined && reproducible.supported !== true)
    checked.warnings.push({
      code: 'OCIKIT_W_REWRITE_TIMESTAMP',
      message:
        reproducible.supported === false
          ? `SOURCE_DATE_EPOCH=${epoch.value}, but ${reproducible.builder ?? 'the builder'} cannot rewrite layer timestamps: ${REWRITE_TIMESTAMP.summary}`
          : `SOURCE_DATE_EPOCH=${epoch.value}: rewrite-timestamp=true passed to ${reproducible.builder ?? 'a builder of unknown BuildKit version'}, which ignores it if it is older than BuildKit v0.13.0 (layers may then differ between builds)`,
    });
  const plan = await planSplit(job);
  if (plan.split)
    options.onNote?.(
      `building ${plan.platforms.join(', ')} one platform at a time (--split-platforms=${plan.mode}): ${plan.reason}`,
    );
  else if (plan.reason !== '')
    options.onNote?.(`building in one pass (--split-platforms=${plan.mode}): ${plan.reason}`);
  const run = plan.split ? await buildSplit(job, plan) : await buildOnce(job);
  const result: BuildResult = {
    ...run,
    warnings: [...checked.warnings, ...run.warnings],
    reproducible,
  };
  if (checked.sources !== undefined) result.pulls = pullSummary(checked.sources);
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
  /** Ask the OCI exporter to rewrite layer timestamps to SOURCE_DATE_EPOCH. */
  rewriteTimestamp: boolean;
  /** The Dockerfile check made before the build (not repeated per platform). */
  checked: DockerfileCheck;
  /** What `docker buildx inspect` said of the builder (asked once, when needed). */
  builder?: Promise<BuilderInfo | undefined>;
}

/** A build's result before the run-wide fields are added. */
type RunResult = Omit<BuildResult, 'reproducible'>;

/** The epoch of a build and where it comes from (none: `value` undefined). */
interface Epoch {
  value?: string;
  from: Reproducible['from'];
}

/**
 * SOURCE_DATE_EPOCH of a build: the option (which must not contradict a build argument), else a
 * `--build-arg SOURCE_DATE_EPOCH=…` (the last one), else the environment when buildx forwards it.
 * @throws OcikitError `OCIKIT_USAGE` for a value that is not a decimal number of seconds, or an
 *   option that contradicts the build argument
 */
function sourceDateEpoch(flags: BuildFlags, options: BuildOptions, env: NodeJS.ProcessEnv): Epoch {
  const fromArgs = (flags.buildArg ?? [])
    .filter((a) => a.startsWith('SOURCE_DATE_EPOCH='))
    .map((a) => a.slice('SOURCE_DATE_EPOCH='.length))
    .pop();
  const check = (value: string, what: string): string => {
    if (!/^[0-9]{1,12}$/.test(value))
      throw new OcikitError(
        ErrorCode.Usage,
        `${what} ${quote(value)} is not a number of seconds since 1970`,
        { hint: 'Pass a decimal number, e.g. 0 or the commit time (git log -1 --format=%ct).' },
      );
    return value;
  };
  if (options.sourceDateEpoch !== undefined) {
    const value = check(options.sourceDateEpoch, '--source-date-epoch');
    if (fromArgs !== undefined && fromArgs !== value)
      throw new OcikitError(
        ErrorCode.Usage,
        `--source-date-epoch ${value} contradicts --build-arg SOURCE_DATE_EPOCH=${fromArgs}`,
        { hint: 'Give the epoch once.' },
      );
    return fromArgs !== undefined ? { value, from: 'build-arg' } : { value, from: 'option' };
  }
  if (fromArgs !== undefined)
    return fromArgs === ''
      ? { from: null }
      : { value: check(fromArgs, '--build-arg SOURCE_DATE_EPOCH'), from: 'build-arg' };
  const fromEnv = env['SOURCE_DATE_EPOCH'];
  if (
    fromEnv !== undefined &&
    fromEnv !== '' &&
    buildxBehaviour(options.buildx).forwardsSourceDateEpoch
  )
    return { value: check(fromEnv, 'SOURCE_DATE_EPOCH'), from: 'env' };
  return { from: null };
}

/** Whether to ask for rewrite-timestamp: when an epoch is set and the builder may support it. */
async function planReproducible(job: BuildJob, epoch: Epoch): Promise<Reproducible> {
  if (epoch.value === undefined)
    return {
      sourceDateEpoch: null,
      from: null,
      rewriteTimestamp: false,
      supported: null,
      builder: null,
    };
  const info = await builderInfo(job);
  const supported = info === undefined ? undefined : supportsRewriteTimestamp(info);
  return {
    sourceDateEpoch: epoch.value,
    from: epoch.from,
    // Unknown: asked anyway (a BuildKit without it ignores unknown exporter options).
    rewriteTimestamp: supported !== false,
    supported: supported ?? null,
    builder: info === undefined ? null : describeBuilder(info),
  };
}

/** `docker buildx inspect` (and `docker version`) once per build; undefined when it fails. */
async function builderInfo(job: BuildJob): Promise<BuilderInfo | undefined> {
  job.builder ??= inspectBuilder(
    job.options.docker ?? 'docker',
    job.flags.builder,
    job.env,
    job.options.runner ?? spawnRunner,
  ).catch(() => undefined);
  return job.builder;
}

async function buildOnce(job: BuildJob): Promise<RunResult> {
  const { flags, contextDir, options, set, contextSet, dest, format, tmpRoot, env } = job;
  const annotationRequests = (flags.annotation ?? []).map(parseAnnotation);
  const out = options.out;
  const metadataFile = path.join(tmpRoot, `metadata${job.suffix}.json`);
  const buildFlags: BuildFlags = {
    ...flags,
    output: [
      `type=oci,dest=${dest}${format === 'layout' ? ',tar=false' : ''}${job.rewriteTimestamp ? ',rewrite-timestamp=true' : ''}`,
    ],
    metadataFile,
    progress: 'rawjson',
  };
  const { docker: _d, outputs: _o, ...invocationRest } = options;
  const inv = await buildxInvocation(buildFlags, contextDir, {
    ...invocationRest,
    out: path.join(tmpRoot, `contexts${job.suffix}`),
    docker: options.docker ?? 'docker',
    outputs: contextSet,
    skipDockerfileCheck: true,
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
  const info = (await builderInfo(job)) ?? ({ name: '', driver: '' } as BuilderInfo);
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
  // A stage FROM scratch the target needs (the Dockerfile as the check read it; when it could
  // not be read, any line that looks like one).
  const sources = job.checked.sources;
  const scratch =
    sources !== undefined
      ? sources.references.some(
          (r) => r.kind === 'from' && r.resolution === 'scratch' && r.reachable,
        )
      : /^\s*FROM\s+(?:--platform=\S+\s+)?scratch\b/im.test(
          await fsp.readFile(path.resolve(cwd, job.checked.dockerfile), 'utf8').catch(() => ''),
        );
  if (scratch) found.push('the Dockerfile has a FROM scratch stage');
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
async function buildSplit(job: BuildJob, plan: SplitPlan): Promise<RunResult> {
  const { flags, options, tmpRoot } = job;
  const requests = (flags.annotation ?? []).map(parseAnnotation);
  const ann = splitAnnotations(requests);
  const results: { platform: string; dir: string; result: RunResult }[] = [];
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
