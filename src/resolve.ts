/**
 * Tag, digest and platform resolution with buildx's semantics, without writing anything:
 * a tag matches `io.containerd.image.name`, then `org.opencontainers.image.ref.name`, then
 * (when index.json holds exactly one manifest) that manifest. No tag and no digest means the
 * tag `latest`, as in buildx. A platform selects a manifest from an index (nested indexes
 * too), skipping attestation manifests.
 */
import { parseDigest } from './digest.js';
import { ErrorCode, OcikitError, quote } from './errors.js';
import type { Layout } from './layout.js';
import { Annotation, isIndexMediaType, isManifestMediaType } from './media-types.js';
import { formatPlatform, isAttestation, parsePlatform, platformScore } from './platform.js';
import type { Descriptor, Platform } from './schema.js';

/** What to resolve. */
export interface ResolveOptions {
  /** A tag as buildx matches it. Default `latest` when no digest is given. */
  tag?: string;
  /** A digest; wins over the tag, as in buildx. */
  digest?: string;
  /** `os/arch[/variant]` or a platform object: select one manifest from an index. */
  platform?: string | Platform;
}

/** How the starting descriptor was found. */
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

/** The most nested indexes ocikit follows. */
export const MAX_INDEX_DEPTH = 8;

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
const PLAIN_TAG = /^[\x21-\x7e]{1,60}$/;

/**
 * Find the index.json entry a tag names, with buildx's order; duplicates that disagree are
 * an error (buildx would silently take the first).
 * @throws OcikitError `OCIKIT_TAG_NOT_FOUND`, `OCIKIT_TAG_AMBIGUOUS`
 */
export function findTag(
  layout: Layout,
  tag: string,
): { descriptor: Descriptor; matchedBy: MatchedBy } {
  for (const key of [Annotation.ContainerdImageName, Annotation.RefName] as const) {
    const hits = layout.index.manifests.filter((d) => d.annotations?.[key] === tag);
    const distinct = [...new Map(hits.map((d) => [d.digest, d])).values()];
    if (distinct.length > 1) {
      throw new OcikitError(
        ErrorCode.TagAmbiguous,
        `${layout.name}: tag ${quote(tag)} (${key}) names ${distinct.length} different manifests: ${distinct.map((d) => d.digest).join(', ')}`,
        {
          hint: 'Pass --digest to pick one, and fix the producer so each tag is unique.',
          details: { tag, digests: distinct.map((d) => d.digest) },
        },
      );
    }
    const [only] = distinct;
    if (only !== undefined) return { descriptor: only, matchedBy: key };
  }
  const [single] = layout.index.manifests;
  if (layout.index.manifests.length === 1 && single !== undefined) {
    return { descriptor: single, matchedBy: 'single-manifest' };
  }
  const known = layoutTags(layout);
  throw new OcikitError(
    ErrorCode.TagNotFound,
    `${layout.name}: no manifest is tagged ${quote(tag)}`,
    {
      hint:
        known.length > 0
          ? `Tags in this layout: ${known
              .slice(0, 10)
              .map((k) => (PLAIN_TAG.test(k) ? k : quote(k, 60)))
              .join(', ')}${known.length > 10 ? ` and ${known.length - 10} more` : ''}.`
          : 'This layout has no tags; pass --digest (see ocikit inspect).',
      details: { tag, tags: known },
    },
  );
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

/** The platform of an image manifest: its descriptor's, else its config's. */
export async function manifestPlatform(layout: Layout, desc: Descriptor): Promise<Platform> {
  if (desc.platform !== undefined) return desc.platform;
  const manifest = await layout.readManifest(desc);
  const config = await layout.readConfig(manifest.config);
  const p: Platform = { architecture: config.architecture, os: config.os };
  if (config.variant !== undefined) p.variant = config.variant;
  if (config['os.version'] !== undefined) p['os.version'] = config['os.version'];
  return p;
}

interface Candidate {
  descriptor: Descriptor;
  platform: Platform;
  path: string[];
}

async function platformCandidates(
  layout: Layout,
  index: Descriptor,
  trail: string[],
  depth: number,
): Promise<Candidate[]> {
  if (depth > MAX_INDEX_DEPTH) {
    throw new OcikitError(
      ErrorCode.NestingTooDeep,
      `index ${index.digest}: indexes nest more than ${MAX_INDEX_DEPTH} deep`,
      {
        hint: 'Flatten the index.',
        details: { digest: index.digest },
      },
    );
  }
  if (trail.includes(index.digest)) {
    throw new OcikitError(
      ErrorCode.ReferenceCycle,
      `index ${index.digest} references itself (${[...trail, index.digest].join(' -> ')})`,
      {
        hint: 'The layout is corrupt; regenerate it.',
        details: { digest: index.digest },
      },
    );
  }
  const here = [...trail, index.digest];
  const out: Candidate[] = [];
  for (const child of (await layout.readIndex(index)).manifests) {
    if (isAttestation(child)) continue;
    if (isIndexMediaType(child.mediaType)) {
      out.push(...(await platformCandidates(layout, child, here, depth + 1)));
    } else if (isManifestMediaType(child.mediaType)) {
      out.push({
        descriptor: child,
        platform: await manifestPlatform(layout, child),
        path: [...here, child.digest],
      });
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
    ({ descriptor: root, matchedBy } = findTag(layout, tag ?? 'latest'));
  }
  const result: Resolved = { descriptor: root, root, matchedBy, path: [root.digest] };
  if (tag !== undefined) result.tag = tag;

  if (wanted === undefined) {
    if (isManifestMediaType(root.mediaType)) {
      result.descriptor = { ...root, platform: await manifestPlatform(layout, root) };
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
    candidates = await platformCandidates(layout, root, [], 0);
  } else if (isManifestMediaType(root.mediaType)) {
    candidates = [
      { descriptor: root, platform: await manifestPlatform(layout, root), path: [root.digest] },
    ];
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
