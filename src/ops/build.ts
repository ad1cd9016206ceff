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
  buildInputs,
  guardBuildxWrites,
  type InvocationOptions,
} from './buildx-args.js';
import {
  checkDockerfile,
  pullSummary,
  type DockerfileCheck,
  type PullSummary,
} from './dockerfile-check.js';
import {
  REWRITE_TIMESTAMP,
  describeBuilder,
  inspectBuilder,
  supportsRewriteTimestamp,
  type BuilderInfo,
} from '../buildx/builder.js';
import type { BuildFlags } from '../buildx/flags.js';
import { crashed, failure } from '../buildx/failure.js';
import { dockerToSpawn } from '../buildx/detect.js';
import { preflight, spawnRunner, type Runner } from '../buildx/preflight.js';
import {
  checkEndpoint,
  endpointEnv,
  endpointInputs,
  type DaemonEndpoint,
} from '../buildx/endpoint.js';
import type { ResolveOptions } from '../layout/resolve.js';
import { Bases, type BaseCheckOptions } from './base-check.js';
import { buildSplit, planSplit, type SplitMode } from './build-split.js';
import { buildxBehaviour } from '../buildx/compat.js';
import { RawJsonStream, type StreamEvent } from '../buildx/stream.js';
import type { PreparedContext } from './context.js';
import { extractLayoutArchive } from '../archive/unpack.js';
import { ErrorCode, OcikitError, errnoCode, isOcikitError, quote } from '../errors.js';
import { openLayout } from '../layout/layout.js';
import { OutputSet, withOutputs, type InputPath } from '../output/outputs.js';
import type { Descriptor, Warning } from '../layout/schema.js';
import { verifyLayout } from '../layout/verify.js';

export type { SplitMode };

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

/** A build's result before the run-wide fields are added (what one buildx run gives). */
export type RunResult = Omit<BuildResult, 'reproducible'>;

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
  // The context directory and the Dockerfile too (the CLI declares a -f given on the command
  // line, not one from --config).
  inputs.push(...buildInputs(flags, contextDir, cwd));
  return withOutputs(options.outputs, inputs, cwd, async (set) => {
    await set.declare('--out', options.out, options.out.endsWith('.tar') ? 'file' : 'dir');
    // What buildx writes besides the result (--cache-to dest=; ocikit sets the rest itself).
    await guardBuildxWrites(flags, set, cwd);
    // The contexts get a set of their own: they are committed (into the scratch directory)
    // before buildx reads them, and removed with it.
    const contexts = new OutputSet({ cwd });
    try {
      // Each base layout is opened, resolved and checked once for the whole run: before docker
      // is asked anything, by the split plan and by every buildx run's context preparation.
      const bases = options.bases ?? new Bases();
      return await runBuild(flags, contextDir, { ...options, bases }, set, contexts);
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
  await checkBases(flags, options, cwd, set);
  // buildx itself runs in `cwd`; the other docker commands spawn from wherever this process is.
  const dockerHere = dockerToSpawn(docker, cwd);
  if (options.preflight !== false) await preflight(dockerHere, flags.builder, env);
  const job: BuildJob = {
    docker: dockerHere,
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
  const run = plan.split ? await buildSplit(job, plan, buildOnce) : await buildOnce(job);
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
async function checkBases(
  flags: BuildFlags,
  options: BuildOptions,
  cwd: string,
  set: OutputSet,
): Promise<void> {
  const bases = options.bases ?? new Bases();
  for (const arg of flags.buildContext ?? []) {
    const c = await classifyContext(arg, cwd);
    if (c.layout === undefined) continue;
    const abs = path.resolve(cwd, c.layout.ref.path);
    if ((await fsp.stat(abs).catch(() => undefined))?.isFile() !== false) continue;
    const layout = await bases.open(abs, {
      strict: options.strict ?? false,
      name: c.layout.ref.path,
    });
    const selection: ResolveOptions = { tagOrder: buildxBehaviour(options.buildx).tagOrder };
    if (c.layout.ref.tag !== undefined) selection.tag = c.layout.ref.tag;
    if (c.layout.ref.digest !== undefined) selection.digest = c.layout.ref.digest;
    const check: BaseCheckOptions = {
      hash: options.verify === true,
      label: `build context ${c.name}`,
    };
    if (options.verify === true) check.signal = set.signal;
    await bases.resolveChecked(layout, selection, check);
  }
}

/** One run of buildx into `dest`, read to the end and checked. */
export interface BuildJob {
  /**
   * The docker CLI as this process spawns it: a relative `docker` resolved against the run's
   * directory (the buildx command line keeps it as given, and runs there).
   */
  docker: string;
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
export async function builderInfo(job: BuildJob): Promise<BuilderInfo | undefined> {
  job.builder ??= inspectBuilder(
    job.docker,
    job.flags.builder,
    job.env,
    job.options.runner ?? spawnRunner,
  ).catch(() => undefined);
  return job.builder;
}

async function buildOnce(job: BuildJob): Promise<RunResult> {
  const { flags, contextDir, options, contextSet, dest, format, tmpRoot, env } = job;
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
  const { stream, exit, stdout } = await runBuildx(inv.argv, job);
  const cut = stream.end();
  // A step error is always fatal. ERROR: lines are fatal with a failed exit; with exit 0 they
  // are client-side noise (buildx 0.29 logs content-store lock races while exporting several
  // platforms) and become warnings: the checks below prove the result either way.
  if (exit.code !== 0 || stream.failedVertexes().length > 0)
    throw await crashed(failure(stream, exit, stdout), stream, {
      docker: job.docker,
      env,
      platforms: (flags.platform ?? []).length,
      ...(options.runner !== undefined ? { runner: options.runner } : {}),
    });
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

  const { digest, descriptor, repaired } = await checkOutput(job, buildxDigest, annotationRequests);
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

/** Run buildx with `argv`, its stderr read to the end as the rawjson progress stream. */
async function runBuildx(
  argv: readonly string[],
  job: BuildJob,
): Promise<{
  stream: RawJsonStream;
  exit: { code: number | null; signal: NodeJS.Signals | null };
  stdout: string;
}> {
  const { options, set, env } = job;
  const stream = new RawJsonStream(options.onEvent);
  let stdout = '';
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      const [cmd, ...args] = argv as [string, ...string[]];
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
  return { stream, exit, stdout };
}

/**
 * The output checked: unpacked (a tarball, by the one archive reader), verified, holding the
 * digest buildx reported and every requested annotation (repaired in the index when asked).
 * @throws OcikitError `OCIKIT_OUTPUT_INVALID`, `OCIKIT_ANNOTATIONS_MISSING`
 */
async function checkOutput(
  job: BuildJob,
  buildxDigest: string,
  annotationRequests: readonly AnnotationRequest[],
): Promise<{ digest: string; descriptor: Descriptor; repaired: MissingAnnotation[] }> {
  const { options, dest, format, tmpRoot } = job;
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
  return { digest, descriptor, repaired };
}
