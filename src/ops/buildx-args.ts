/**
 * The complete, safe `docker buildx build` invocation: the user's flags with every
 * oci-layout build context prepared (pinned by digest; in place or thin copy), other contexts
 * untouched. Deterministic: the same inputs give the same argv.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import {
  prepareContexts,
  type ContextRequest,
  type PrepareOptions,
  type PreparedContexts,
} from './context.js';
import { ErrorCode, OcikitError, quote } from '../errors.js';
import { withOutputs, type InputPath, type OutputSet } from '../output/outputs.js';
import type { Warning } from '../layout/schema.js';
import { buildxBehaviour } from '../buildx/compat.js';
import { flagsToArgv, type BuildFlags } from '../buildx/flags.js';
import { withRewriteTimestamp } from '../buildx/exporters.js';
import { OCI_LAYOUT_SCHEME, refNotFound, resolveLayoutRef } from '../layout/reference.js';
import {
  checkDockerfile,
  type DockerfileCheck,
  type DockerfileCheckOptions,
} from './dockerfile-check.js';

/** Options of {@link buildxInvocation}. */
export interface InvocationOptions extends Omit<PrepareOptions, 'platform'> {
  /** argv[0]. Default `docker`. */
  docker?: string;
  /** Refuse a Dockerfile that makes the build pull an image (see {@link checkDockerfile}). */
  hermetic?: boolean;
  /** A context the Dockerfile never names: `warn` (default) or `error`. */
  unusedContexts?: 'warn' | 'error';
  /** Skip the Dockerfile check (the caller ran it). Default false. */
  skipDockerfileCheck?: boolean;
  /** The environment `--build-arg NAME` reads. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Add `rewrite-timestamp=true` to every image output (`--output type=oci|docker|image|registry`,
   * `--load`, `--push`), as `ocikit build` does when SOURCE_DATE_EPOCH is set (see
   * {@link withRewriteTimestamp}). Default false.
   */
  rewriteTimestamp?: boolean;
}

/** The result of {@link buildxInvocation}. */
export interface Invocation {
  argv: string[];
  prepared: PreparedContexts;
  warnings: Warning[];
  /** What the Dockerfile fetches, when it was read (absent with skipDockerfileCheck). */
  dockerfile?: DockerfileCheck;
}

interface ContextArg {
  name: string;
  value: string;
  layout?: ContextRequest;
}

/**
 * Split `NAME=VALUE` and recognise layouts: `oci-layout://...`, or a value one of whose
 * readings `PATH[:TAG][@DIGEST]` is a directory holding `oci-layout` or an OCI archive file.
 * A value naming an unreadable directory is refused, never passed through as a plain context.
 * @throws OcikitError `OCIKIT_CONTEXT_INVALID`, `OCIKIT_LAYOUT_NOT_FOUND` (oci-layout:// naming
 *   nothing), `OCIKIT_LAYOUT_UNREADABLE`, `OCIKIT_REF_AMBIGUOUS`, `OCIKIT_USAGE`
 */
export async function classifyContext(arg: string, cwd: string): Promise<ContextArg> {
  const eq = arg.indexOf('=');
  if (eq <= 0) {
    throw new OcikitError(
      ErrorCode.ContextInvalid,
      `--build-context ${quote(arg)} is not NAME=VALUE`,
      {
        hint: 'Write --build-context base=oci-layout:///path/to/layout:tag (or base=./layout:tag).',
      },
    );
  }
  const name = arg.slice(0, eq);
  const value = arg.slice(eq + 1);
  const scheme = value.startsWith(OCI_LAYOUT_SCHEME);
  if (!scheme && URL_CONTEXT.test(value)) return { name, value }; // docker-image://, https://, ...
  const bare = scheme ? value.slice(OCI_LAYOUT_SCHEME.length) : value;
  const where = `--build-context ${name}`;
  const found = await resolveLayoutRef(bare, cwd, where);
  if (found?.target === 'unreadable') {
    throw new OcikitError(
      ErrorCode.LayoutUnreadable,
      `${where}: ${quote(path.resolve(cwd, found.ref.path), 400)} cannot be read by this user`,
      {
        hint: 'Make the directory readable (and searchable) by the user running ocikit and buildx.',
        details: { name, path: found.ref.path },
      },
    );
  }
  if (scheme) {
    if (found === undefined) throw refNotFound(bare, where);
    return { name, value, layout: { name, ref: found.ref } };
  }
  if (found !== undefined && (found.target === 'layout' || found.target === 'archive'))
    return { name, value, layout: { name, ref: found.ref } };
  return { name, value };
}

/**
 * Prepare every oci-layout context in `flags.buildContext` and return the full argv. What the
 * argv makes buildx write (`--metadata-file`, `--iidfile`, `--output` and `--cache-to` dest) is
 * checked as an output first (see {@link guardBuildxWrites}).
 * @throws OcikitError `OCIKIT_USAGE` (no context directory), `OCIKIT_OUT_INSIDE_INPUT` and
 *   `OCIKIT_OUT_INVALID` (buildx would write into an input or onto another output), and every
 *   error of prepareContexts
 */
export async function buildxInvocation(
  flags: BuildFlags,
  contextDir: string | undefined,
  options: InvocationOptions = {},
): Promise<Invocation> {
  if (contextDir === undefined || contextDir === '') {
    throw new OcikitError(
      ErrorCode.Usage,
      'a build context directory is required (the last argument of docker buildx build)',
      {
        hint: 'Add the directory with the Dockerfile, e.g. "." at the end.',
      },
    );
  }
  const cwd = options.cwd ?? process.cwd();
  return withOutputs(options.outputs, buildInputs(flags, contextDir, cwd), cwd, (set) =>
    invocation(flags, contextDir, { ...options, outputs: set }, cwd),
  );
}

const URL_CONTEXT = /^[a-z][a-z0-9+.-]*:\/\//;

/**
 * What buildx reads of a build besides its named contexts: the context directory (buildx's own
 * outputs may lie inside it: {@link InputPath.nestable}) and the Dockerfile (`-f`, else the
 * context's `Dockerfile`, which buildx reads by default). Stdin (`-`) and URLs are not paths.
 */
export function buildInputs(
  flags: BuildFlags,
  contextDir: string | undefined,
  cwd: string,
): InputPath[] {
  const inputs: InputPath[] = [];
  const local = contextDir !== undefined && contextDir !== '' && contextDir !== '-';
  if (local && !URL_CONTEXT.test(contextDir))
    inputs.push({
      path: path.resolve(cwd, contextDir),
      label: `build context ${contextDir}`,
      nestable: true,
    });
  if (flags.file !== undefined && flags.file !== '-')
    inputs.push({ path: path.resolve(cwd, flags.file), label: `Dockerfile ${flags.file}` });
  else if (flags.file === undefined && local && !URL_CONTEXT.test(contextDir))
    inputs.push({
      path: path.resolve(cwd, contextDir, 'Dockerfile'),
      label: `Dockerfile ${path.join(contextDir, 'Dockerfile')}`,
    });
  return inputs;
}

/** The fields of a buildx CSV value (`type=local,"dest=a,b"`): split at commas outside quotes. */
function csvFields(value: string): string[] {
  const fields: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      fields.push(cur);
      cur = '';
    } else cur += ch;
  }
  fields.push(cur);
  return fields;
}

/** The `dest=` of an `--output` or `--cache-to` value; the short `--output PATH` form is a local dest. */
function destOf(value: string, shortIsPath: boolean): string | undefined {
  if (shortIsPath && !value.includes('=') && !value.includes(',')) return value;
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=');
    if (eq > 0 && field.slice(0, eq).trim().toLowerCase() === 'dest') return field.slice(eq + 1);
  }
  return undefined;
}

/**
 * The files and directories buildx writes when it runs with `flags`: `--metadata-file`,
 * `--iidfile`, the `dest=` of each `--output` (and its short `PATH` form) and `--cache-to`
 * (`-` is stdout). Relative paths are buildx's, relative to where it runs.
 */
export function buildxWrites(flags: BuildFlags): { label: string; path: string }[] {
  const out: { label: string; path: string }[] = [];
  if (flags.metadataFile !== undefined)
    out.push({ label: '--metadata-file', path: flags.metadataFile });
  if (flags.iidfile !== undefined) out.push({ label: '--iidfile', path: flags.iidfile });
  for (const o of flags.output ?? []) {
    const dest = destOf(o, true);
    if (dest !== undefined) out.push({ label: '--output dest', path: dest });
  }
  for (const c of flags.cacheTo ?? []) {
    const dest = destOf(c, false);
    if (dest !== undefined) out.push({ label: '--cache-to dest', path: dest });
  }
  return out.filter((w) => w.path !== '-' && w.path !== '');
}

/**
 * Guard what buildx will write (see {@link buildxWrites}) as outputs of the run: never into an
 * input (a layout read in place, a thin copy's source, the context directory, the Dockerfile),
 * nor onto another output.
 * @throws OcikitError `OCIKIT_OUT_INSIDE_INPUT`, `OCIKIT_OUT_INVALID`
 */
export async function guardBuildxWrites(
  flags: BuildFlags,
  set: OutputSet,
  cwd: string,
): Promise<void> {
  for (const w of buildxWrites(flags)) await set.external(w.label, path.resolve(cwd, w.path));
}

async function invocation(
  flags: BuildFlags,
  contextDir: string,
  options: InvocationOptions,
  cwd: string,
): Promise<Invocation> {
  // What buildx will write, before anything is prepared.
  if (options.outputs !== undefined) await guardBuildxWrites(flags, options.outputs, cwd);
  const classified: ContextArg[] = [];
  for (const arg of flags.buildContext ?? []) classified.push(await classifyContext(arg, cwd));
  // What the Dockerfile fetches, before anything is prepared (--hermetic refuses here).
  const checked =
    options.skipDockerfileCheck === true
      ? undefined
      : await checkDockerfile(flags, contextDir, dockerfileCheckOptions(options, cwd));
  const layouts = classified.flatMap((c) => (c.layout === undefined ? [] : [c.layout]));
  const {
    docker: _docker,
    hermetic: _h,
    unusedContexts: _u,
    skipDockerfileCheck: _s,
    env: _e,
    rewriteTimestamp: _r,
    ...prepareOptions
  } = options;
  const prepared = await prepareContexts(layouts, prepareOptions);
  const byName = new Map(prepared.contexts.map((c) => [c.name, c]));
  const buildContext = classified.map(
    (c) => `${c.name}=${c.layout === undefined ? c.value : (byName.get(c.name)?.value ?? c.value)}`,
  );

  const warnings: Warning[] = [...(checked?.warnings ?? []), ...prepared.warnings];
  const dockerfile = path.resolve(cwd, flags.file ?? path.join(contextDir, 'Dockerfile'));
  if (layouts.length > 0 && buildxBehaviour(options.buildx).appliesRegoPolicy) {
    const rego = path.join(path.dirname(dockerfile), `${path.basename(dockerfile)}.rego`);
    if (
      await fsp.stat(rego).then(
        () => true,
        () => false,
      )
    ) {
      warnings.push({
        code: 'OCIKIT_W_REGO_POLICY',
        message: `${path.relative(cwd, rego)} exists: buildx >= 0.31 applies it and may reject oci-layout sources`,
      });
    }
  }
  const argv = [
    options.docker ?? 'docker',
    'buildx',
    'build',
    ...flagsToArgv({
      ...(options.rewriteTimestamp === true ? withRewriteTimestamp(flags) : flags),
      buildContext,
    }),
    contextDir,
  ];
  return checked === undefined
    ? { argv, prepared, warnings }
    : { argv, prepared, warnings, dockerfile: checked };
}

/** The {@link checkDockerfile} options an invocation's options imply. */
export function dockerfileCheckOptions(
  options: Pick<InvocationOptions, 'hermetic' | 'unusedContexts' | 'env'>,
  cwd: string,
): DockerfileCheckOptions {
  const out: DockerfileCheckOptions = { cwd };
  if (options.hermetic !== undefined) out.hermetic = options.hermetic;
  if (options.unusedContexts !== undefined) out.unusedContexts = options.unusedContexts;
  if (options.env !== undefined) out.env = options.env;
  return out;
}

/** Shell-quote one argument for people (POSIX sh). */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@,+%^-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
