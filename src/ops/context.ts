/**
 * Preparing `oci-layout://` build contexts so that buildx reads them without writing into
 * them: resolve (read-only), then use the layout in place when that is provably safe for the
 * buildx version in use, otherwise make a thin writable copy under `out`.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import path from 'node:path';
import { isRegularFile, unpackContextArchive } from '../archive/context.js';
import { resolveBase, type BaseCheckOptions, type Bases } from './base-check.js';
import { buildxBehaviour, formatBuildxVersion, type BuildxVersion } from '../buildx/compat.js';
import {
  buildxSafeTag,
  formatLayoutRef,
  pathNeedsRemap,
  type LayoutRef,
} from '../layout/reference.js';
import { ErrorCode, OcikitError, quote } from '../errors.js';
import { Annotation } from '../layout/media-types.js';
import { openLayout, type Layout } from '../layout/layout.js';
import { withOutputs, type OutputSet, type PendingOutput } from '../output/outputs.js';
import type { MatchedBy, ResolveOptions } from '../layout/resolve.js';
import type { Descriptor, Warning } from '../layout/schema.js';
import { writeThinCopy, type LinkKind } from './thin-copy.js';

/** How a context reaches buildx. */
export type Strategy = 'in-place' | 'thin';

/** `auto` decides per context; the others insist. */
export type Mode = 'auto' | Strategy;

/** One named context to prepare. */
export interface ContextRequest {
  /** The build context name (`base` in `--build-context base=...`). */
  name: string;
  /** The layout reference; a relative path is resolved against `cwd`. */
  ref: LayoutRef;
}

/** Options of {@link prepareContexts}. */
export interface PrepareOptions {
  /** Where relative layout paths start. Default: process.cwd(). */
  cwd?: string;
  /** Directory for thin copies (one subdirectory per context). Needed only if one is made. */
  out?: string;
  /** Default `auto`. */
  mode?: Mode;
  /** The buildx in use; undefined means unknown (every write assumed). */
  buildx?: BuildxVersion;
  /** Select one platform's manifest instead of pinning the whole index. */
  platform?: string;
  /**
   * Reject spec deviations (see openLayout), and a tag that matches nothing even when the
   * layout holds a single manifest (`OCIKIT_TAG_NOT_FOUND` instead of `OCIKIT_W_TAG_FALLBACK`).
   */
  strict?: boolean;
  /**
   * Also hash every blob of the selected images before buildx runs. Without it the base check
   * still proves each blob present, a regular file (or an allowed symlink) of its declared size.
   */
  verify?: boolean;
  /** The run's outputs (the caller commits); default: a set of its own, committed on success. */
  outputs?: OutputSet;
  /** Largest expansion of an archive context (see UnpackOptions.maxBytes). */
  maxBytes?: number;
  /** Layouts already opened and bases already checked in this run (build's several passes). */
  bases?: Bases;
}

/** One prepared context. */
export interface PreparedContext {
  name: string;
  /** The reference as given. */
  input: string;
  strategy: Strategy;
  /** Why that strategy (each a sentence). */
  reasons: string[];
  /** The `--build-context` value: `oci-layout://<abs path>:<tag>@<digest>`. */
  value: string;
  /** The absolute directory buildx reads. */
  path: string;
  tag: string;
  /**
   * How the tag or digest was matched (the tag lookup order is the target buildx version's);
   * `single-manifest` when the tag, or the implied `latest`, matched nothing and the only
   * manifest was taken.
   */
  matchedBy: MatchedBy;
  descriptor: Descriptor;
  /** The tag as given, when `tag` is the buildx-safe name standing for it (a full reference, say). */
  sourceTag?: string;
  /** For thin copies: how blobs are linked. */
  link?: LinkKind;
  /** For thin copies: what was written, relative to `out`. */
  written?: string[];
}

/** The result of {@link prepareContexts}. */
export interface PreparedContexts {
  contexts: PreparedContext[];
  buildx: string;
  /** The `out` directory when thin copies were written there. */
  out?: string;
  warnings: Warning[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/;

/** A directory name for a context: safe characters, no `:`/`@`, unique per name. */
export function contextDirName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return safe === name
    ? name
    : `${safe}-${process.getBuiltinModule('node:crypto').createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

async function isWritable(dir: string): Promise<boolean> {
  try {
    await fsp.access(dir, fsc.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}

interface Plan {
  request: ContextRequest;
  layout: Layout;
  absPath: string;
  descriptor: Descriptor;
  tag: string;
  /** The tag as given (differs from `tag` when that had to be made buildx-safe). */
  sourceTag: string;
  matchedBy: MatchedBy;
  strategy: Strategy;
  reasons: string[];
  /** Set for a tar-format layout (FILE.tar): the directory it was unpacked into, under `out`. */
  unpacked?: string;
}

/** The `out` directory, pending until everything is written; created when first needed. */
interface Staging {
  set: OutputSet;
  out?: string;
  pending?: PendingOutput;
}

/** Check `--out` before any work (it is created only when a thin copy is needed). */
async function declareOut(staging: Staging, options: PrepareOptions, cwd: string): Promise<void> {
  if (options.out === undefined) return;
  const out = path.isAbsolute(options.out) ? options.out : `${cwd}/${options.out}`;
  if (pathNeedsRemap(out)) {
    throw new OcikitError(
      ErrorCode.OutInvalid,
      `--out ${out} contains ':' or '@', which buildx misparses in oci-layout paths`,
      {
        hint: 'Choose an --out path without ":" and "@".',
      },
    );
  }
  await staging.set.declare('--out', out, 'dir');
}

async function openOut(
  staging: Staging,
  options: PrepareOptions,
  cwd: string,
  why: string,
): Promise<PendingOutput> {
  if (staging.pending !== undefined) return staging.pending;
  if (options.out === undefined) {
    throw new OcikitError(ErrorCode.OutInvalid, `${why}, but no --out was given`, {
      hint: 'Pass --out DIR (a new or empty directory) for the thin copies.',
    });
  }
  const out = path.isAbsolute(options.out) ? options.out : `${cwd}/${options.out}`;
  staging.pending = await staging.set.dir('--out', out);
  staging.out = staging.pending.out;
  return staging.pending;
}

/** Why buildx would write into this layout if it were used in place (empty: safe). */
async function unsafeReasons(
  absPath: string,
  buildx: BuildxVersion | undefined,
): Promise<string[]> {
  const b = buildxBehaviour(buildx);
  const v = formatBuildxVersion(buildx);
  const reasons: string[] = [];
  if (pathNeedsRemap(absPath) && b.cutsAtFirstSeparator) {
    reasons.push(`the path contains ':' or '@', which buildx ${v} misparses`);
  }
  if (b.mayCreateIngest && !(await exists(path.join(absPath, 'ingest')))) {
    reasons.push(`buildx ${v} may create ingest/ in the layout, and it has none`);
  }
  if (b.probesFsVerity && (await isWritable(absPath))) {
    reasons.push(
      `the layout is writable by this user and buildx ${v} probes fs-verity by creating a directory in it`,
    );
  }
  return reasons;
}

/**
 * Prepare each context: resolve its tag or digest without writing, decide in place or thin,
 * and write all thin copies into `out` atomically (nothing is written when any context fails).
 * A context whose path is a regular file is a tar-format layout (`FILE.tar[:TAG]`, as `ocikit
 * pack`, skopeo `oci-archive:` or buildx `type=oci,dest=` write them): it is unpacked, every
 * digest checked, into its own directory under `out`.
 * @throws OcikitError `OCIKIT_CONTEXT_INVALID`, `OCIKIT_OUT_*`, `OCIKIT_IN_PLACE_UNSAFE`, every
 *   resolution error, and for archives every error of unpacking (`OCIKIT_ARCHIVE_*`, ...)
 */
export async function prepareContexts(
  requests: readonly ContextRequest[],
  options: PrepareOptions = {},
): Promise<PreparedContexts> {
  const cwd = options.cwd ?? process.cwd();
  const inputs = requests.map((r) => ({
    path: path.resolve(cwd, r.ref.path),
    label: `layout of context ${r.name}`,
  }));
  return withOutputs(options.outputs, inputs, cwd, async (set) => {
    const staging: Staging = { set };
    await declareOut(staging, options, cwd);
    return prepare(requests, options, staging);
  });
}

async function prepare(
  requests: readonly ContextRequest[],
  options: PrepareOptions,
  staging: Staging,
): Promise<PreparedContexts> {
  checkNames(requests);
  const warnings: Warning[] = [];
  const plans: Plan[] = [];
  for (const request of requests)
    plans.push(await planContext(request, options, staging, warnings));
  const contexts = plans.map(preparedOf);
  await writeThinCopies(plans, contexts, options, staging);
  const result: PreparedContexts = {
    contexts,
    buildx: formatBuildxVersion(options.buildx),
    warnings,
  };
  if (staging.out !== undefined) result.out = staging.out;
  return result;
}

/** Every name valid (what `--build-context NAME=` accepts) and given once. */
function checkNames(requests: readonly ContextRequest[]): void {
  const seen = new Set<string>();
  for (const r of requests) {
    if (!NAME.test(r.name)) {
      throw new OcikitError(
        ErrorCode.ContextInvalid,
        `build context name ${JSON.stringify(r.name)} is not valid`,
        {
          hint: 'Write NAME=LAYOUT[:TAG|@DIGEST], e.g. base=./layout:latest.',
          details: { name: r.name },
        },
      );
    }
    if (seen.has(r.name)) {
      throw new OcikitError(
        ErrorCode.ContextInvalid,
        `build context ${JSON.stringify(r.name)} is given twice`,
        {
          hint: 'Give each build context once.',
          details: { name: r.name },
        },
      );
    }
    seen.add(r.name);
  }
}

/**
 * One context, read and decided, nothing written yet except an archive's unpacked layout:
 * open (unpacking an archive under `out`), resolve and check the base, then choose in place or
 * thin. Layout warnings and a renamed tag go to `warnings`.
 */
async function planContext(
  request: ContextRequest,
  options: PrepareOptions,
  staging: Staging,
  warnings: Warning[],
): Promise<Plan> {
  const cwd = options.cwd ?? process.cwd();
  const absPath = path.resolve(cwd, request.ref.path);
  const unpacked = (await isRegularFile(absPath))
    ? await unpackArchive(request, absPath, options, staging)
    : undefined;
  const openOptions = { strict: options.strict ?? false, name: request.ref.path };
  const layout = await (options.bases?.open(unpacked ?? absPath, openOptions) ??
    openLayout(unpacked ?? absPath, openOptions));
  const selection: ResolveOptions = { tagOrder: buildxBehaviour(options.buildx).tagOrder };
  if (request.ref.tag !== undefined) selection.tag = request.ref.tag;
  if (request.ref.digest !== undefined) selection.digest = request.ref.digest;
  if (options.platform !== undefined) selection.platform = options.platform;
  // Resolve, then check every blob of the selection: before any thin copy is written and
  // before buildx runs.
  const check: BaseCheckOptions = {
    hash: options.verify === true,
    label: `build context ${request.name}`,
  };
  // Hashing a large base takes long: a cancelled request or a signal stops it.
  if (options.verify === true) check.signal = staging.set.signal;
  const resolved = await (options.bases?.resolveChecked(layout, selection, check) ??
    resolveBase(layout, selection, check));
  const sourceTag = request.ref.tag ?? resolved.tag ?? 'latest';
  const tag = buildxSafeTag(sourceTag);
  warnings.push(
    ...layout.warnings.map((w) => ({ ...w, message: `${request.name}: ${w.message}` })),
  );
  const reasons =
    unpacked !== undefined
      ? [
          `${request.ref.path} is an OCI archive: unpacked (every digest checked) into a private layout`,
        ]
      : await unsafeReasons(absPath, options.buildx);
  if (tag !== sourceTag) {
    reasons.push(
      `the tag ${quote(sourceTag)} is not one buildx parses in an oci-layout reference: the copy names the manifest ${quote(tag)} (the original kept as ${Annotation.OcikitSourceRefName})`,
    );
    warnings.push({
      code: 'OCIKIT_W_TAG_RENAMED',
      message: `${request.name}: tag ${quote(sourceTag)} is passed to buildx as ${quote(tag)}`,
    });
  }
  const plan: Plan = {
    request,
    layout,
    absPath,
    descriptor: resolved.descriptor,
    tag,
    sourceTag,
    matchedBy: resolved.matchedBy,
    strategy: chooseStrategy(request, options, reasons, unpacked !== undefined),
    reasons,
  };
  if (unpacked !== undefined) plan.unpacked = unpacked;
  return plan;
}

/** A tar-format layout, unpacked (every digest checked) into its own directory under `out`. */
async function unpackArchive(
  request: ContextRequest,
  absPath: string,
  options: PrepareOptions,
  staging: Staging,
): Promise<string> {
  if (options.mode === 'in-place') {
    throw new OcikitError(
      ErrorCode.InPlaceUnsafe,
      `${request.name}: ${request.ref.path} is an archive, which buildx cannot read in place`,
      {
        hint: 'Use --mode auto (or thin) with --out DIR so ocikit unpacks it.',
        details: { name: request.name },
      },
    );
  }
  const pending = await openOut(
    staging,
    options,
    options.cwd ?? process.cwd(),
    `${request.name}: ${request.ref.path} is an OCI archive that must be unpacked`,
  );
  const unpacked = path.join(pending.tmp, contextDirName(request.name));
  await unpackContextArchive(absPath, unpacked, {
    strict: options.strict ?? false,
    name: request.ref.path,
    outputs: staging.set,
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
  });
  return unpacked;
}

/**
 * The policy: an archive is always a thin copy; `--mode thin` insists; a layout buildx would
 * not write into is used in place; otherwise a thin copy, or an error under `--mode in-place`.
 * `reasons` gets the sentence that explains the choice.
 */
function chooseStrategy(
  request: ContextRequest,
  options: PrepareOptions,
  reasons: string[],
  archive: boolean,
): Strategy {
  const mode = options.mode ?? 'auto';
  if (archive) return 'thin';
  if (mode === 'thin') {
    reasons.unshift('--mode thin');
    return 'thin';
  }
  if (reasons.length === 0) {
    reasons.push(
      `the digest is pinned (no index.json lock) and buildx ${formatBuildxVersion(options.buildx)} would not write into this layout`,
    );
    return 'in-place';
  }
  if (mode === 'in-place') {
    throw new OcikitError(
      ErrorCode.InPlaceUnsafe,
      `${request.name}: cannot use ${request.ref.path} in place: ${reasons.join('; ')}`,
      {
        hint: 'Use --mode auto (or thin) with --out DIR so ocikit makes a thin writable copy.',
        details: { name: request.name, reasons },
      },
    );
  }
  return 'thin';
}

/** What a plan tells the caller before any thin copy exists (value and path for in-place). */
function preparedOf(p: Plan): PreparedContext {
  return {
    name: p.request.name,
    input: formatInput(p.request.ref),
    strategy: p.strategy,
    reasons: p.reasons,
    value: p.strategy === 'in-place' ? formatLayoutRef(p.absPath, p.tag, p.descriptor.digest) : '',
    path: p.absPath,
    tag: p.tag,
    ...(p.sourceTag !== p.tag ? { sourceTag: p.sourceTag } : {}),
    matchedBy: p.matchedBy,
    descriptor: p.descriptor,
  };
}

/** The thin copies (and unpacked archives) under `out`, each context's value pointing there. */
async function writeThinCopies(
  plans: readonly Plan[],
  contexts: PreparedContext[],
  options: PrepareOptions,
  staging: Staging,
): Promise<void> {
  const thin = plans.filter((p) => p.strategy === 'thin');
  if (thin.length === 0) return;
  const pending = await openOut(
    staging,
    options,
    options.cwd ?? process.cwd(),
    `${thin.map((p) => p.request.name).join(', ')}: a thin copy is needed (${thin[0]?.reasons.join('; ')})`,
  );
  const out = staging.out as string;
  for (const p of thin) {
    staging.set.throwIfInterrupted();
    const ctx = contexts[plans.indexOf(p)] as PreparedContext;
    const dirName = contextDirName(p.request.name);
    ctx.path = path.join(out, dirName);
    ctx.value = formatLayoutRef(ctx.path, p.tag, p.descriptor.digest);
    if (p.unpacked !== undefined) {
      ctx.written = [`${dirName}/`];
      continue;
    }
    const made = await writeThinCopy(
      p.layout,
      path.join(pending.tmp, dirName),
      p.descriptor,
      p.tag,
      p.sourceTag,
    );
    ctx.link = made.link;
    ctx.written = made.written.map((w) => `${dirName}/${w}`);
  }
}

/** `PATH[:TAG][@DIGEST]` as given. */
export function formatInput(ref: LayoutRef): string {
  return `${ref.path}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}
