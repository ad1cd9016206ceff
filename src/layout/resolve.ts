/**
 * Tag, digest and platform resolution with buildx's semantics, without writing anything.
 * A tag is looked up in index.json in the order of the buildx version in use (buildx >= 0.20:
 * `io.containerd.image.name`, then `org.opencontainers.image.ref.name`; buildx <= 0.19:
 * `org.opencontainers.image.ref.name` only), then, when index.json holds exactly one manifest,
 * that manifest (every buildx version falls back so). No tag and no digest means the tag
 * `latest`, as in buildx. A platform selects a manifest from an index (nested indexes too),
 * skipping attestation manifests.
 *
 * Warnings go where the layout's other warnings go ({@link Layout.warnings}):
 * `OCIKIT_W_TAG_FALLBACK` when a tag that was asked for matches nothing and the only manifest
 * is taken (refused with `OCIKIT_TAG_NOT_FOUND` when the layout was opened `strict`; the
 * implied `latest` falling back is quiet, see {@link findTag}), and `OCIKIT_W_TAG_ORDER` when
 * the other lookup order would pick a different manifest.
 */
import { parseDigest } from './digest.js';
import { ErrorCode, OcikitError, quote } from '../errors.js';
import type { Layout } from './layout.js';
import {
  Annotation,
  isImageConfigMediaType,
  isIndexMediaType,
  isManifestMediaType,
} from './media-types.js';
import {
  configPlatform,
  formatPlatform,
  isAttestation,
  parsePlatform,
  platformScore,
} from './platform.js';
import type { Descriptor, Platform } from './schema.js';

/**
 * The annotations a tag is looked up in, in order: `image-name-first` is
 * `io.containerd.image.name` then `org.opencontainers.image.ref.name` (buildx >= 0.20, BuildKit
 * 01cf0c69f); `ref-name-only` is `org.opencontainers.image.ref.name` alone (buildx <= 0.19).
 */
export type TagOrder = 'image-name-first' | 'ref-name-only';

/** The order of current buildx releases; what {@link resolve} uses unless told otherwise. */
export const CURRENT_TAG_ORDER: TagOrder = 'image-name-first';

/** What to resolve. */
export interface ResolveOptions {
  /** A tag as buildx matches it. Default `latest` when no digest is given. */
  tag?: string;
  /** A digest; wins over the tag, as in buildx. */
  digest?: string;
  /** `os/arch[/variant]` or a platform object: select one manifest from an index. */
  platform?: string | Platform;
  /** How tags are looked up. Default {@link CURRENT_TAG_ORDER}. */
  tagOrder?: TagOrder;
}

/**
 * How the starting descriptor was found: by digest, by one of the two tag annotations, or
 * (`single-manifest`) as the only manifest in index.json when the tag matched nothing.
 */
export type MatchedBy =
  'digest' | typeof Annotation.ContainerdImageName | typeof Annotation.RefName | 'single-manifest';

/** The result of {@link resolve}. */
export interface Resolved {
  /** The chosen descriptor. For an image manifest `platform` is filled in (from its index or config). */
  descriptor: Descriptor;
  /** The descriptor the tag or digest named (an index when a platform was then selected). */
  root: Descriptor;
  /** The tag asked for (or `latest`), undefined when only a digest was given. */
  tag?: string;
  matchedBy: MatchedBy;
  /** The platform asked for, normalised as `os/arch[/variant]`. */
  platform?: string;
  /** Digests from `root` down to `descriptor` (one entry when no index was walked). */
  path: string[];
  /** Number of layers, when the descriptor is an image manifest. */
  layers?: number;
}

/** The most nested indexes ocikit follows (the one limit of the graph walk). */
export { MAX_INDEX_DEPTH } from './graph.js';
import { MAX_INDEX_DEPTH, pathTo, walkGraph } from './graph.js';

function tagsOf(d: Descriptor): string[] {
  const out: string[] = [];
  const a = d.annotations ?? {};
  for (const key of [Annotation.ContainerdImageName, Annotation.RefName]) {
    const v = a[key];
    if (v !== undefined && !out.includes(v)) out.push(v);
  }
  return out;
}

/** Tags of the manifests in index.json, as people would pass them to buildx. */
export function layoutTags(layout: Layout): string[] {
  return [...new Set(layout.index.manifests.flatMap(tagsOf))].sort();
}

/** A tag shown as it is in a list; any other is quoted (escaped and cut). */
// eslint-disable-next-line no-control-regex
const PLAIN_TAG = /^[\x21-\x7e]{1,60}$/;

/** Options of {@link findTag}. */
export interface FindTagOptions {
  /** How tags are looked up. Default {@link CURRENT_TAG_ORDER}. */
  order?: TagOrder;
}

/** What a lookup found: a descriptor, nothing, or a tag naming several manifests. */
type Lookup =
  { descriptor: Descriptor; matchedBy: MatchedBy } | { none: true } | { ambiguous: OcikitError };

const KEYS: Record<
  TagOrder,
  readonly (typeof Annotation.ContainerdImageName | typeof Annotation.RefName)[]
> = {
  'image-name-first': [Annotation.ContainerdImageName, Annotation.RefName],
  'ref-name-only': [Annotation.RefName],
};

/** Who looks tags up in an order, for messages. */
const WHO: Record<TagOrder, string> = {
  'image-name-first':
    'buildx >= 0.20 (io.containerd.image.name, then org.opencontainers.image.ref.name)',
  'ref-name-only': 'buildx <= 0.19 (org.opencontainers.image.ref.name only)',
};

/** One lookup in one order: annotation matches, then the single-manifest fallback. */
function lookup(layout: Layout, tag: string, order: TagOrder): Lookup {
  for (const key of KEYS[order]) {
    const hits = layout.index.manifests.filter((d) => d.annotations?.[key] === tag);
    const distinct = [...new Map(hits.map((d) => [d.digest, d])).values()];
    if (distinct.length > 1) {
      return {
        ambiguous: new OcikitError(
          ErrorCode.TagAmbiguous,
          `${layout.name}: tag ${quote(tag)} (${key}) names ${distinct.length} different manifests: ${distinct.map((d) => d.digest).join(', ')}`,
          {
            hint: 'Pass --digest to pick one, and fix the producer so each tag is unique.',
            details: { tag, digests: distinct.map((d) => d.digest) },
          },
        ),
      };
    }
    const [only] = distinct;
    if (only !== undefined) return { descriptor: only, matchedBy: key };
  }
  const [single] = layout.index.manifests;
  if (layout.index.manifests.length === 1 && single !== undefined) {
    return { descriptor: single, matchedBy: 'single-manifest' };
  }
  return { none: true };
}

function describeLookup(l: Lookup): string {
  if ('descriptor' in l) {
    return l.matchedBy === 'single-manifest'
      ? `${l.descriptor.digest} (the only manifest)`
      : l.descriptor.digest;
  }
  if ('none' in l) return 'nothing';
  const digests = l.ambiguous.details['digests'];
  return `${Array.isArray(digests) ? digests.length : 'several'} manifests (it takes the first)`;
}

function note(layout: Layout, code: string, message: string): void {
  const warnings = layout.lenience.warnings;
  if (!warnings.some((w) => w.code === code && w.message === message)) {
    warnings.push({ code, message });
  }
}

/**
 * Find the index.json entry a tag names, in the given lookup order; duplicates that disagree
 * are an error (buildx would silently take the first). `tag` undefined means the implied
 * `latest` (no tag and no digest given, as `oci-layout://DIR` in buildx).
 *
 * When nothing matches and index.json holds exactly one manifest, that manifest is taken, as
 * every buildx version does. For a tag that was asked for this adds the warning
 * `OCIKIT_W_TAG_FALLBACK` to the layout's warnings, or, when the layout was opened `strict`,
 * throws `OCIKIT_TAG_NOT_FOUND`. For the implied `latest` it is quiet (a single untagged
 * image is what `oci-layout://DIR` means); `matchedBy` says `single-manifest` either way.
 * When the other lookup order would pick a different manifest (or none), the warning
 * `OCIKIT_W_TAG_ORDER` names both.
 * @throws OcikitError `OCIKIT_TAG_NOT_FOUND`, `OCIKIT_TAG_AMBIGUOUS`
 */
export function findTag(
  layout: Layout,
  tag: string | undefined,
  options: FindTagOptions = {},
): { descriptor: Descriptor; matchedBy: MatchedBy } {
  const wanted = tag ?? 'latest';
  const order = options.order ?? CURRENT_TAG_ORDER;
  const other: TagOrder = order === 'image-name-first' ? 'ref-name-only' : 'image-name-first';
  const found = lookup(layout, wanted, order);
  const alternative = lookup(layout, wanted, other);
  if ('ambiguous' in found) throw found.ambiguous;
  if ('none' in found) {
    const known = layoutTags(layout);
    throw new OcikitError(
      ErrorCode.TagNotFound,
      `${layout.name}: no manifest is tagged ${quote(wanted)}${order === CURRENT_TAG_ORDER ? '' : ` for ${WHO[order]}`}`,
      {
        hint:
          'descriptor' in alternative
            ? `${WHO[other]} would take ${alternative.descriptor.digest}; tag it with org.opencontainers.image.ref.name, or pass its digest.`
            : known.length > 0
              ? `Tags in this layout: ${known
                  .slice(0, 10)
                  .map((k) => (PLAIN_TAG.test(k) ? k : quote(k, 60)))
                  .join(', ')}${known.length > 10 ? ` and ${known.length - 10} more` : ''}.`
              : 'This layout has no tags; pass --digest (see ocikit inspect).',
        details: { tag: wanted, tags: known },
      },
    );
  }
  if (found.matchedBy === 'single-manifest' && tag !== undefined) {
    if (layout.lenience.strict) {
      throw new OcikitError(
        ErrorCode.TagNotFound,
        `${layout.name}: no manifest is tagged ${quote(tag)}; buildx would take the only manifest, ${found.descriptor.digest} (rejected by --strict)`,
        {
          hint: 'Pass the digest, name no tag (the only manifest is then meant), or tag the manifest.',
          details: { tag, tags: layoutTags(layout), digest: found.descriptor.digest },
        },
      );
    }
    note(
      layout,
      'OCIKIT_W_TAG_FALLBACK',
      `${layout.name}: no manifest is tagged ${quote(tag)}; using the only manifest in index.json, ${found.descriptor.digest}, as buildx does`,
    );
  }
  const same =
    'descriptor' in alternative && alternative.descriptor.digest === found.descriptor.digest;
  if (!same) {
    note(
      layout,
      'OCIKIT_W_TAG_ORDER',
      `${layout.name}: tag ${quote(wanted)} means ${found.descriptor.digest} for ${WHO[order]}, but ${describeLookup(alternative)} for ${WHO[other]}; using ${found.descriptor.digest}`,
    );
  }
  return { descriptor: found.descriptor, matchedBy: found.matchedBy };
}

/**
 * Find a descriptor by digest: index.json first, then inside its indexes.
 * @throws OcikitError `OCIKIT_DIGEST_NOT_FOUND`
 */
export async function findDigest(layout: Layout, digest: string): Promise<Descriptor> {
  return (await locateDigest(layout, digest)).descriptor;
}

/**
 * Like {@link findDigest}, with the digests of the indexes walked to reach it (the last entry
 * is the digest itself; one entry when index.json names it).
 * @throws OcikitError `OCIKIT_DIGEST_NOT_FOUND`
 */
export async function locateDigest(
  layout: Layout,
  digest: string,
): Promise<{ descriptor: Descriptor; path: string[] }> {
  parseDigest(digest, 'requested digest');
  const seen = new Set<string>();
  let level = layout.index.manifests.map((d) => ({ d, path: [d.digest] }));
  for (let depth = 0; depth <= MAX_INDEX_DEPTH && level.length > 0; depth++) {
    const hit = level.find((x) => x.d.digest === digest);
    if (hit !== undefined) return { descriptor: hit.d, path: hit.path };
    const next: typeof level = [];
    for (const { d, path } of level) {
      if (!isIndexMediaType(d.mediaType) || seen.has(d.digest)) continue;
      seen.add(d.digest);
      for (const child of (await layout.readIndex(d)).manifests)
        next.push({ d: child, path: [...path, child.digest] });
    }
    level = next;
  }
  throw new OcikitError(
    ErrorCode.DigestNotFound,
    `${layout.name}: ${digest} is not referenced by index.json or its indexes`,
    {
      hint: 'List what the layout holds with ocikit inspect.',
      details: { digest },
    },
  );
}

/**
 * The platform of an image manifest: its descriptor's, else its config's. Undefined when it has
 * none: an artifact (its config is not an image configuration: `application/vnd.oci.empty.v1+json`,
 * an artifact's own type) or an image whose config leaves `architecture` or `os` empty
 * (`OCIKIT_W_NO_PLATFORM`).
 */
export async function imagePlatform(
  layout: Layout,
  desc: Descriptor,
): Promise<Platform | undefined> {
  if (desc.platform !== undefined) return desc.platform;
  const manifest = await layout.readManifest(desc);
  if (!isImageConfigMediaType(manifest.config.mediaType)) return undefined;
  return configPlatform(await layout.readConfig(manifest.config));
}

/**
 * The platform of an image manifest (see {@link imagePlatform}).
 * @throws OcikitError `OCIKIT_PLATFORM_NOT_FOUND` when it has none (an artifact, an empty
 *   architecture or os), and the errors of reading the manifest and config
 */
export async function manifestPlatform(layout: Layout, desc: Descriptor): Promise<Platform> {
  const platform = await imagePlatform(layout, desc);
  if (platform !== undefined) return platform;
  throw new OcikitError(
    ErrorCode.PlatformNotFound,
    `manifest ${desc.digest} has no platform: it is an artifact (its config is not an image configuration), or its config leaves "architecture" or "os" empty`,
    {
      hint: 'Use an image with a platform (ocikit inspect lists them), or give the platform where the command takes one.',
      details: { digest: desc.digest },
    },
  );
}

interface Candidate {
  descriptor: Descriptor;
  platform: Platform;
  path: string[];
}

/**
 * The image manifests an index offers, each with its platform and the digests walked to it:
 * the one graph walk over indexes only (each index read once, however often it is named; one
 * depth limit; cycles refused), attestations left out.
 */
async function platformCandidates(layout: Layout, index: Descriptor): Promise<Candidate[]> {
  const graph = await walkGraph(layout, [{ descriptor: index }], {
    expand: (kind) => kind === 'index',
  });
  const out: Candidate[] = [];
  const seen = new Set<string>();
  for (const node of graph.nodes.values()) {
    if (node.kind !== 'manifest' || node.digest === index.digest) continue;
    for (const edge of node.parents) {
      if (isAttestation(edge.descriptor)) continue;
      if (node.contexts.length > 0 && node.contexts.every((c) => c.attestation)) continue;
      const platform = await imagePlatform(layout, edge.descriptor);
      if (platform === undefined) continue;
      const key = `${node.digest}\0${formatPlatform(platform)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ descriptor: edge.descriptor, platform, path: pathTo(graph, node.digest) });
    }
  }
  return out;
}

async function countLayers(layout: Layout, desc: Descriptor): Promise<number | undefined> {
  if (!isManifestMediaType(desc.mediaType)) return undefined;
  return (await layout.readManifest(desc)).layers.length;
}

/**
 * Resolve a tag or digest (and optionally a platform) to one descriptor. Reads index.json and
 * the manifests, indexes and configs on the way; verifies each of them against its digest.
 * @throws OcikitError `OCIKIT_TAG_NOT_FOUND`, `OCIKIT_TAG_AMBIGUOUS`, `OCIKIT_DIGEST_NOT_FOUND`,
 *   `OCIKIT_PLATFORM_INVALID`, `OCIKIT_PLATFORM_NOT_FOUND`, `OCIKIT_PLATFORM_AMBIGUOUS`, and the
 *   blob errors of the layout
 */
export async function resolve(layout: Layout, options: ResolveOptions = {}): Promise<Resolved> {
  const wanted =
    typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform;
  let root: Descriptor;
  let matchedBy: MatchedBy;
  const tag = options.tag ?? (options.digest === undefined ? 'latest' : undefined);
  if (options.digest !== undefined) {
    root = await findDigest(layout, options.digest);
    matchedBy = 'digest';
  } else {
    const order: FindTagOptions = {};
    if (options.tagOrder !== undefined) order.order = options.tagOrder;
    ({ descriptor: root, matchedBy } = findTag(layout, options.tag, order));
  }
  const result: Resolved = { descriptor: root, root, matchedBy, path: [root.digest] };
  if (tag !== undefined) result.tag = tag;

  if (wanted === undefined) {
    if (isManifestMediaType(root.mediaType)) {
      const platform = await imagePlatform(layout, root);
      if (platform !== undefined) result.descriptor = { ...root, platform };
    } else if (isIndexMediaType(root.mediaType)) {
      await layout.readIndex(root);
    }
    const layers = await countLayers(layout, root);
    if (layers !== undefined) result.layers = layers;
    return result;
  }

  result.platform = formatPlatform(wanted);
  let candidates: Candidate[];
  if (isIndexMediaType(root.mediaType)) {
    candidates = await platformCandidates(layout, root);
  } else if (isManifestMediaType(root.mediaType)) {
    const platform = await imagePlatform(layout, root);
    candidates =
      platform !== undefined ? [{ descriptor: root, platform, path: [root.digest] }] : [];
  } else {
    throw new OcikitError(
      ErrorCode.MediaTypeUnsupported,
      `${root.digest} has media type ${root.mediaType}, not an image`,
      {
        hint: 'Pick an image manifest or index (see ocikit inspect).',
        details: { digest: root.digest },
      },
    );
  }
  const scored = candidates
    .map((c) => ({ c, score: platformScore(wanted, c.platform) }))
    .filter((x) => x.score > 0);
  const best = Math.max(0, ...scored.map((x) => x.score));
  const top = [
    ...new Map(
      scored.filter((x) => x.score === best).map((x) => [x.c.descriptor.digest, x.c]),
    ).values(),
  ];
  if (top.length === 0) {
    const available = [...new Set(candidates.map((c) => formatPlatform(c.platform)))].sort();
    throw new OcikitError(
      ErrorCode.PlatformNotFound,
      `${root.digest}: no manifest for platform ${formatPlatform(wanted)}`,
      {
        hint:
          available.length > 0
            ? `Platforms available: ${available.join(', ')}.`
            : 'The image has no platform manifests.',
        details: { platform: formatPlatform(wanted), platforms: available },
      },
    );
  }
  if (top.length > 1) {
    throw new OcikitError(
      ErrorCode.PlatformAmbiguous,
      `${root.digest}: ${top.length} manifests match platform ${formatPlatform(wanted)}: ${top.map((c) => `${c.descriptor.digest} (${formatPlatform(c.platform)})`).join(', ')}`,
      {
        hint: 'Add the variant to --platform, or pass --digest.',
        details: { digests: top.map((c) => c.descriptor.digest) },
      },
    );
  }
  const chosen = top[0] as Candidate;
  result.descriptor = { ...chosen.descriptor, platform: chosen.platform };
  result.path = chosen.path;
  const layers = await countLayers(layout, chosen.descriptor);
  if (layers !== undefined) result.layers = layers;
  return result;
}
