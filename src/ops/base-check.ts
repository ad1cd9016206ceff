/**
 * The base check: before buildx reads a layout as a build context (and before ocikit writes a
 * thin copy of it), every blob of the selected image must be there as verify accepts it — a
 * regular file, or a symlink inside the layout or to the same `blobs/ALG/HEX` of another
 * layout — with its declared size. buildx itself would find a missing blob only in the middle
 * of the solve, after a thin copy was made and a builder started. It is {@link verifyLayout}
 * on the selection, with `noDigests` unless hashing is asked for: one implementation of the
 * per-blob checks.
 */
import { ErrorCode, isOcikitError, OcikitError, quote } from '../errors.js';
import { splitDigest } from '../layout/digest.js';
import { walkGraph } from '../layout/graph.js';
import { openLayout, type Layout, type OpenOptions } from '../layout/layout.js';
import { isImageConfigMediaType, isManifestMediaType } from '../layout/media-types.js';
import {
  findTag,
  locateDigest,
  resolve,
  type Resolved,
  type ResolveOptions,
} from '../layout/resolve.js';
import { verifyLayout, type Problem } from '../layout/verify.js';

/** Options of {@link checkBase} and {@link resolveBase}. */
export interface BaseCheckOptions {
  /** Also hash every blob against its digest (`--verify`). Default false: presence, kind, size. */
  hash?: boolean;
  /** How messages name what is checked, e.g. `build context base`. Default: the layout's name. */
  label?: string;
  /** Stops the hashing when aborted (a cancelled request, a signal). */
  signal?: AbortSignal;
}

/** What {@link checkBase} checked. */
export interface BaseCheck {
  /** Distinct blobs of the selection. */
  blobs: number;
  /** Their declared bytes. */
  bytes: number;
  /** Whether content digests were checked. */
  digests: boolean;
}

function selectionOf(selected: { digest: string; tag?: string }, hash: boolean) {
  const selection: Parameters<typeof verifyLayout>[1] = {
    digest: selected.digest,
    noDigests: !hash,
  };
  if (selected.tag !== undefined) selection.tag = selected.tag;
  return selection;
}

/** The coded error for a problem: the blob, what references it, its tag and platform. */
function problemError(
  layout: Layout,
  problems: readonly Problem[],
  first: Problem,
  root: string,
  label: string | undefined,
): OcikitError {
  const more = problems.length - 1;
  // Problems about the file (a symlink, not a file) name its path; name the blob too.
  const what = first.message.includes(first.digest)
    ? first.message
    : `blob ${first.digest}: ${first.message}`;
  return new OcikitError(
    first.code,
    `${label ?? layout.name}: ${what}${more > 0 ? ` (and ${more} more problem${more > 1 ? 's' : ''})` : ''}`,
    {
      hint: `${first.hint} buildx was not started; \`ocikit verify ${layout.name} --digest ${root}\` lists every problem.`,
      details: {
        digest: first.digest,
        ...(first.path !== undefined ? { path: first.path } : {}),
        referencedBy: first.referencedBy,
        problems,
      },
    },
  );
}

/**
 * Check every blob reachable from `selected.digest` (`selected.tag` only names it in messages).
 * The first problem (in digest order) is thrown; all of them are in `details.problems`.
 * @throws OcikitError `OCIKIT_BLOB_MISSING`, `OCIKIT_BLOB_SIZE_MISMATCH`, `OCIKIT_BLOB_NOT_FILE`,
 *   `OCIKIT_BLOB_SYMLINK_ESCAPES`, `OCIKIT_BLOB_UNREADABLE`, with `hash` also
 *   `OCIKIT_BLOB_DIGEST_MISMATCH` and `OCIKIT_DIGEST_UNSUPPORTED`, and the errors of a broken
 *   manifest or index (`OCIKIT_JSON_INVALID`, `OCIKIT_SCHEMA_INVALID`, ...)
 */
export async function checkBase(
  layout: Layout,
  selected: { digest: string; tag?: string },
  options: BaseCheckOptions = {},
): Promise<BaseCheck> {
  // Sizes only: the happy path is the graph walk and one lstat per blob; anything off (or a
  // read the walk cannot do) goes to verify, which words the problem with its references.
  if (options.hash !== true) {
    const quick = await quickCheck(layout, selected.digest);
    if (quick !== undefined) return quick;
  }
  const selection = selectionOf(selected, options.hash === true);
  if (options.signal !== undefined) selection.signal = options.signal;
  const report = await verifyLayout(layout, selection);
  const [first] = report.problems;
  if (first !== undefined)
    throw problemError(layout, report.problems, first, selected.digest, options.label);
  return { blobs: report.blobs, bytes: report.bytes, digests: report.digests };
}

/** Every blob below `digest` present with its size, or undefined when verify must look. */
async function quickCheck(layout: Layout, digest: string): Promise<BaseCheck | undefined> {
  try {
    const located = await locateDigest(layout, digest);
    const graph = await walkGraph(layout, [{ descriptor: located.descriptor }], {
      contexts: false,
    });
    let bytes = 0;
    for (const node of graph.nodes.values()) {
      const size = node.descriptor.size;
      for (const edge of node.parents) if (edge.descriptor.size !== size) return undefined;
      if (layout.blobSizeSync(splitDigest(node.digest)) !== size) return undefined;
      // Indexes and manifests were digest-checked as the walk read them; configs are read here.
      if (node.kind === 'config') await layout.readConfig(node.descriptor);
      bytes += size;
    }
    return { blobs: graph.nodes.size, bytes, digests: false };
  } catch {
    return undefined;
  }
}

/**
 * {@link resolve}, then {@link checkBase} on what it selected. A blob that breaks resolution
 * itself (a missing manifest or config) is reported as the check reports it: with the manifest
 * that references it, the tag and the platform.
 * @throws OcikitError every error of resolve and of checkBase
 */
export async function resolveBase(
  layout: Layout,
  selection: ResolveOptions,
  options: BaseCheckOptions = {},
): Promise<Resolved> {
  let resolved: Resolved;
  try {
    resolved = await resolve(layout, selection);
  } catch (e) {
    throw await explain(layout, selection, options, e);
  }
  await refuseArtifact(layout, resolved, options);
  const selected: { digest: string; tag?: string } = { digest: resolved.descriptor.digest };
  if (resolved.tag !== undefined) selected.tag = resolved.tag;
  await checkBase(layout, selected, options);
  return resolved;
}

/**
 * An artifact (oras push: a manifest whose config is `application/vnd.oci.empty.v1+json` or an
 * artifact's own type) is no image to build FROM: buildx 0.29.1 fails with "failed to resolve
 * source metadata ...: encountered unknown type application/vnd.oci.empty.v1+json; children may
 * not be fetched" (test/e2e/interop-producers.ts).
 */
async function refuseArtifact(
  layout: Layout,
  resolved: Resolved,
  options: BaseCheckOptions,
): Promise<void> {
  const d = resolved.descriptor;
  if (!isManifestMediaType(d.mediaType)) return;
  const manifest = await layout.readManifest(d);
  if (isImageConfigMediaType(manifest.config.mediaType)) return;
  const type = manifest.artifactType ?? manifest.config.mediaType;
  throw new OcikitError(
    ErrorCode.MediaTypeUnsupported,
    `${options.label ?? layout.name}: ${d.digest}${resolved.tag !== undefined ? ` (tag ${quote(resolved.tag)})` : ''} is an artifact of type ${quote(type)}, not an image buildx can build from (its config is ${quote(manifest.config.mediaType)})`,
    {
      hint: 'Name an image (ocikit inspect lists each manifest with its artifactType); artifacts such as signatures or SBOMs are not build bases.',
      details: { digest: d.digest, artifactType: type },
    },
  );
}

/** The check's problem for the blob a resolution error is about, when there is one. */
async function explain(
  layout: Layout,
  selection: ResolveOptions,
  options: BaseCheckOptions,
  e: unknown,
): Promise<unknown> {
  if (!isOcikitError(e)) return e;
  const digest = e.details['digest'];
  const blobPath = e.details['path'];
  if (typeof digest !== 'string' && typeof blobPath !== 'string') return e;
  try {
    const root =
      selection.digest !== undefined
        ? (await locateDigest(layout, selection.digest)).descriptor
        : findTag(
            layout,
            selection.tag,
            selection.tagOrder === undefined ? {} : { order: selection.tagOrder },
          ).descriptor;
    const tag = selection.tag ?? (selection.digest === undefined ? 'latest' : undefined);
    const selected = tag === undefined ? { digest: root.digest } : { digest: root.digest, tag };
    const report = await verifyLayout(layout, selectionOf(selected, false));
    const match = report.problems.find(
      (p) => p.digest === digest || (p.path !== undefined && p.path === blobPath),
    );
    return match === undefined
      ? e
      : problemError(layout, report.problems, match, root.digest, options.label);
  } catch {
    return e;
  }
}

/**
 * The bases of one run, each layout opened once and each selection resolved and checked once,
 * however many steps read it: `build` checks its bases before docker is asked anything, looks
 * for zero-layer platforms, and prepares the contexts of every (per-platform) buildx run.
 */
export class Bases {
  private readonly layouts = new Map<string, Promise<Layout>>();
  private readonly checked = new Map<string, Promise<Resolved>>();
  /** What was actually done (cache misses): layouts opened, selections resolved and checked. */
  readonly stats = { opened: 0, checked: 0 };

  /** {@link openLayout}, once per directory and strictness. */
  open(dir: string, options: OpenOptions = {}): Promise<Layout> {
    const key = `${options.strict === true ? 's' : '-'}${dir}`;
    let layout = this.layouts.get(key);
    if (layout === undefined) {
      this.stats.opened++;
      layout = openLayout(dir, options);
      this.layouts.set(key, layout);
    }
    return layout;
  }

  /** {@link resolveBase}, once per layout, selection and hashing. */
  resolveChecked(
    layout: Layout,
    selection: ResolveOptions,
    options: BaseCheckOptions = {},
  ): Promise<Resolved> {
    const key = JSON.stringify([
      layout.dir,
      selection.tag ?? null,
      selection.digest ?? null,
      selection.platform ?? null,
      selection.tagOrder ?? null,
      options.hash === true,
      options.label ?? null,
    ]);
    let resolved = this.checked.get(key);
    if (resolved === undefined) {
      this.stats.checked++;
      resolved = resolveBase(layout, selection, options);
      this.checked.set(key, resolved);
    }
    return resolved;
  }
}
