/**
 * Assembling one multi-platform image from several layouts (PROBLEMS §4): the images named by
 * `LAYOUT[:TAG|@DIGEST]` sources (single manifests or indexes, e.g. one per platform from
 * separate Bazel actions or builder nodes) become one new layout holding one image index.
 *
 * - Index annotations: the sources' index annotations are carried (a key with two different
 *   values is a conflict unless `annotations` decides it) and `annotations` are set on top.
 * - Descriptors keep their annotations and platforms; a descriptor without a platform gets the
 *   one of its image config. Tag annotations of index.json entries are not carried.
 * - The same manifest for the same platform twice is kept once; two different manifests for
 *   one platform are an `OCIKIT_INDEX_CONFLICT` naming both. Attestation manifests travel
 *   with the image they describe.
 * - Docker manifest lists cannot carry annotations: asking for any is
 *   `OCIKIT_ANNOTATIONS_UNSUPPORTED`, unless `oci` converts the Docker manifests to OCI ones
 *   (new manifest blobs; config and layer bytes are unchanged, only their media types).
 * - Blobs are taken by take-blobs.ts: copied (a reflink where the file system can clone) by
 *   default, so sources are only read (not even their link counts or ctimes change);
 *   hardlinked with `link: 'hard'`; never symlinked: the output stands alone. Every blob
 *   taken is hashed where the output holds it, unless `trustInputs` (sizes only).
 * - JSON is canonical (sorted keys); the manifests are sorted by platform, so the same
 *   sources in any order give the same bytes. Written to a temporary sibling, verified,
 *   renamed into place.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { reachableBlobs, type ReachableBlob } from '../archive/reachable.js';
import { parseLayoutRef, type LayoutRef } from '../layout/reference.js';
import { blobRelPath, parseDigest } from '../layout/digest.js';
import { ErrorCode, OcikitError, fsError, quote } from '../errors.js';
import { openLayout, type Layout } from '../layout/layout.js';
import {
  Annotation,
  MediaType,
  isDockerMediaType,
  isIndexMediaType,
  isManifestMediaType,
} from '../layout/media-types.js';
import { withOutputs, type OutputSet } from '../output/outputs.js';
import { formatPlatform, isAttestation, normalizePlatform } from '../layout/platform.js';
import { MAX_INDEX_DEPTH, findDigest, findTag, manifestPlatform } from '../layout/resolve.js';
import type { Descriptor, Platform, Warning } from '../layout/schema.js';
import { canonicalJson } from '../layout/json.js';
import { LINK_MODES, takeBlobs, type BlobToTake, type LinkMode } from './take-blobs.js';

/** Options of {@link mergeIndex}. */
export interface MergeOptions {
  /** Where relative source paths start. Default process.cwd(). */
  cwd?: string;
  /** Annotations of the new index (they win over the sources' index annotations). */
  annotations?: Record<string, string>;
  /** Annotations of the new index's entries in index.json. */
  descriptorAnnotations?: Record<string, string>;
  /** Tags (`org.opencontainers.image.ref.name`) of the new index in index.json. */
  tags?: string[];
  /** Convert Docker media types to OCI ones (needed for annotations on Docker images). */
  oci?: boolean;
  /** Reject spec deviations in the sources. */
  strict?: boolean;
  /**
   * The output set of the run: `out` is committed with its other outputs (all or nothing). By
   * default a set of its own, committed when the merge succeeds.
   */
  outputs?: OutputSet;
  /**
   * How blobs are taken from the sources. `copy` (default): copied, as a reflink where the file
   * system can clone, so the sources are only read. `hard`: hardlinked where the file system
   * allows (else copied): the output shares inodes with the sources, whose link count and
   * ctime change, and a later write to either side shows in both.
   */
  link?: LinkMode;
  /**
   * Check the blobs taken by size only. Default false: every blob taken is hashed where the
   * output holds it, and one whose bytes do not match its digest is `OCIKIT_BLOB_DIGEST_MISMATCH`.
   */
  trustInputs?: boolean;
}

/** One descriptor of the new index. */
export interface MergedManifest {
  digest: string;
  mediaType: string;
  /** `os/arch[/variant]`, absent for artifacts without one. */
  platform?: string;
  attestation: boolean;
  /** The source it came from, as given. */
  source: string;
  /** The digest before `oci` conversion, when converted. */
  convertedFrom?: string;
}

/** One blob of the new layout and how it got there. */
export interface MergedBlob {
  digest: string;
  size: number;
  /** `copied` (a reflink where the file system could clone), `linked` (hardlink) or `written` (new JSON). */
  how: 'copied' | 'linked' | 'written';
  /** The source it was taken from, as given; absent for written blobs. */
  source?: string;
}

/** The result of {@link mergeIndex}. */
export interface MergeResult {
  out: string;
  /** The new index's descriptor (as in index.json, without tags). */
  descriptor: Descriptor;
  manifests: MergedManifest[];
  annotations: Record<string, string>;
  tags: string[];
  /**
   * Counts. `verified`: blobs taken from the sources whose bytes were hashed in the output
   * (all of them, or 0 with `trustInputs`).
   */
  blobs: { total: number; linked: number; copied: number; written: number; verified: number };
  /** Every blob of the new layout, by digest. */
  blobList: MergedBlob[];
  warnings: Warning[];
}

/** One `--annotation` of `ocikit index`: `KEY=VALUE`, `index:KEY=VALUE` or `index-descriptor:KEY=VALUE`. */
export interface IndexAnnotation {
  target: 'index' | 'index-descriptor';
  key: string;
  value: string;
}

/**
 * Parse an `ocikit index --annotation` value. No prefix means the index itself.
 * @throws OcikitError `OCIKIT_USAGE`
 */
export function parseIndexAnnotation(raw: string): IndexAnnotation {
  const eq = raw.indexOf('=');
  let target: IndexAnnotation['target'] = 'index';
  let key = eq < 0 ? raw : raw.slice(0, eq);
  const prefix = /^([a-z-]+(?:,[a-z-]+)*)(?:\[[^\]]*\])?:(.*)$/s.exec(key);
  if (
    prefix !== null &&
    /^(index|index-descriptor|manifest|manifest-descriptor)(,|$)/.test(prefix[1] as string)
  ) {
    if (prefix[1] === 'index-descriptor') target = 'index-descriptor';
    else if (prefix[1] !== 'index') {
      throw new OcikitError(
        ErrorCode.Usage,
        `--annotation ${JSON.stringify(raw)}: ocikit index sets index and index-descriptor annotations only`,
        {
          hint: 'Manifest annotations change manifest digests: set them when the image is built (buildx --annotation manifest:KEY=VALUE).',
        },
      );
    }
    key = prefix[2] as string;
  }
  if (eq <= 0 || key === '') {
    throw new OcikitError(
      ErrorCode.Usage,
      `--annotation ${JSON.stringify(raw)} is not [index:|index-descriptor:]KEY=VALUE`,
      {
        hint: 'For example --annotation org.opencontainers.image.title=app.',
      },
    );
  }
  return { target, key, value: raw.slice(eq + 1) };
}

// OCI image-spec annotations.md, org.opencontainers.image.ref.name.
const REF_NAME =
  /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

/** Parse `LAYOUT[:TAG|@DIGEST]`. */
export function parseIndexSource(value: string): LayoutRef {
  return parseLayoutRef(value, `source ${value}`);
}

interface Source {
  input: string;
  layout: Layout;
  /** Index annotations of the source's root, when it is an index. */
  indexAnnotations: Record<string, string>;
}

/** A descriptor a source must give, and the manifest that references it (none: the new index does). */
interface Root {
  descriptor: Descriptor;
  manifest?: string;
}

interface Entry {
  source: Source;
  descriptor: Descriptor;
  kind: 'image' | 'attestation' | 'other';
  platform?: Platform;
}

const TAG_KEYS: readonly string[] = [Annotation.RefName, Annotation.ContainerdImageName];

function withoutTags(d: Descriptor): Descriptor {
  if (d.annotations === undefined) return { ...d };
  const annotations = Object.fromEntries(
    Object.entries(d.annotations).filter(([k]) => !TAG_KEYS.includes(k)),
  );
  const out: Descriptor = { ...d };
  if (Object.keys(annotations).length > 0) out.annotations = annotations;
  else delete out.annotations;
  return out;
}

function platformKey(p: Platform): string {
  const n = normalizePlatform(p);
  return [
    formatPlatform(n),
    p['os.version'] ?? '',
    [...(p['os.features'] ?? [])].sort().join(','),
  ].join('|');
}

function platformLabel(p: Platform): string {
  return `${formatPlatform(normalizePlatform(p))}${p['os.version'] !== undefined ? ` (os.version ${p['os.version']})` : ''}`;
}

async function collect(
  source: Source,
  desc: Descriptor,
  depth: number,
  into: Entry[],
): Promise<void> {
  if (depth > MAX_INDEX_DEPTH) {
    throw new OcikitError(
      ErrorCode.NestingTooDeep,
      `${source.input}: indexes nest more than ${MAX_INDEX_DEPTH} deep`,
      { hint: 'Flatten the index.', details: { digest: desc.digest } },
    );
  }
  if (isIndexMediaType(desc.mediaType)) {
    const index = await source.layout.readIndex(desc);
    if (depth === 0) source.indexAnnotations = { ...(index.annotations ?? {}) };
    for (const child of index.manifests) {
      if (isAttestation(child))
        into.push({ source, descriptor: { ...child }, kind: 'attestation' });
      else await collect(source, child, depth + 1, into);
    }
  } else if (isManifestMediaType(desc.mediaType)) {
    const platform = await manifestPlatform(source.layout, desc);
    into.push({ source, descriptor: { ...desc, platform }, kind: 'image', platform });
  } else if (depth === 0) {
    throw new OcikitError(
      ErrorCode.MediaTypeUnsupported,
      `${source.input}: ${desc.digest} has media type ${desc.mediaType}, not an image or index`,
      {
        hint: 'Name an image manifest or index (see ocikit inspect).',
        details: { digest: desc.digest },
      },
    );
  } else {
    into.push({ source, descriptor: { ...desc }, kind: 'other' });
  }
}

function conflict(message: string, hint: string, details: Record<string, unknown>): OcikitError {
  return new OcikitError(ErrorCode.IndexConflict, message, { hint, details });
}

function mergeAnnotations(
  into: Descriptor,
  from: Descriptor,
  where: string,
  sources: [string, string],
): void {
  for (const [k, v] of Object.entries(from.annotations ?? {})) {
    const have = into.annotations?.[k];
    if (have === undefined) into.annotations = { ...(into.annotations ?? {}), [k]: v };
    else if (have !== v) {
      throw conflict(
        `${where}: annotation ${quote(k, 100)} is ${quote(have, 100)} in ${sources[0]} but ${quote(v, 100)} in ${sources[1]}`,
        'Give the manifest once, or make the sources agree on its descriptor annotations.',
        { key: k, values: [have, v], sources },
      );
    }
  }
}

const DOCKER_TO_OCI: Readonly<Record<string, string>> = {
  [MediaType.DockerManifest]: MediaType.OciManifest,
  [MediaType.DockerConfig]: MediaType.OciConfig,
  'application/vnd.docker.image.rootfs.diff.tar.gzip':
    'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar': 'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.docker.image.rootfs.diff.tar.zstd':
    'application/vnd.oci.image.layer.v1.tar+zstd',
  [MediaType.DockerForeignLayer]: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};

function ociMediaType(mediaType: string, where: string): string {
  if (!isDockerMediaType(mediaType)) return mediaType;
  const oci = DOCKER_TO_OCI[mediaType];
  if (oci === undefined) {
    throw new OcikitError(
      ErrorCode.MediaTypeUnsupported,
      `${where}: media type ${mediaType} has no OCI equivalent ocikit knows`,
      {
        hint: 'Convert the image with skopeo copy --format oci first.',
        details: { mediaType },
      },
    );
  }
  return oci;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A Docker v2 manifest rewritten with OCI media types: the new bytes and the old blobs it still needs. */
async function convertManifest(entry: Entry): Promise<{ bytes: Buffer; needs: Descriptor[] }> {
  const where = `${entry.source.input}: manifest ${entry.descriptor.digest}`;
  const raw = (await entry.source.layout.readJsonBlob(entry.descriptor)).value as Record<
    string,
    unknown
  >;
  const manifest = await entry.source.layout.readManifest(entry.descriptor);
  const rewrite = (d: Record<string, unknown>): Record<string, unknown> => ({
    ...d,
    mediaType: ociMediaType(String(d['mediaType']), where),
  });
  const converted: Record<string, unknown> = {
    ...raw,
    mediaType: MediaType.OciManifest,
    config: rewrite(raw['config'] as Record<string, unknown>),
    layers: ((raw['layers'] as Record<string, unknown>[] | null) ?? []).map(rewrite),
  };
  return {
    bytes: Buffer.from(canonicalJson(converted)),
    needs: [manifest.config, ...manifest.layers],
  };
}

/**
 * Merge the images of `sources` into a new layout at `out` (absolute; new or empty).
 * @throws OcikitError `OCIKIT_USAGE`, `OCIKIT_INDEX_CONFLICT`, `OCIKIT_ANNOTATIONS_UNSUPPORTED`,
 *   `OCIKIT_MEDIA_TYPE_UNSUPPORTED`, `OCIKIT_OUT_*`, `OCIKIT_BLOB_*` (a blob taken that does
 *   not match its digest: `OCIKIT_BLOB_DIGEST_MISMATCH`), by cause `OCIKIT_NO_SPACE`,
 *   `OCIKIT_TOO_MANY_OPEN_FILES`, `OCIKIT_IO_ERROR`, `OCIKIT_INPUT_UNREADABLE`, and the errors
 *   of opening and resolving the sources (`OCIKIT_LAYOUT_NOT_FOUND`, `OCIKIT_TAG_NOT_FOUND`, ...)
 */
export async function mergeIndex(
  sources: readonly string[],
  out: string,
  options: MergeOptions = {},
): Promise<MergeResult> {
  if (sources.length === 0) {
    throw new OcikitError(ErrorCode.Usage, 'ocikit index needs at least one source layout', {
      hint: 'Pass LAYOUT[:TAG|@DIGEST] for each image to combine.',
    });
  }
  const tags = [...new Set(options.tags ?? [])];
  for (const tag of tags) {
    if (!REF_NAME.test(tag) || tag.length > 255) {
      throw new OcikitError(
        ErrorCode.Usage,
        `--tag ${JSON.stringify(tag)} is not a valid org.opencontainers.image.ref.name`,
        {
          hint: 'Use letters, digits and - . _ : @ + / between them, e.g. --tag v1.2 or --tag registry.example/app:v1.',
        },
      );
    }
  }
  const link = options.link ?? 'copy';
  if (!LINK_MODES.includes(link)) {
    throw new OcikitError(
      ErrorCode.Usage,
      `link ${quote(link)} is not one of ${LINK_MODES.join(', ')}`,
      { hint: 'Use copy (the default: reflink where possible, inputs untouched) or hard.' },
    );
  }
  const cwd = options.cwd ?? process.cwd();
  const warnings: Warning[] = [];

  // 1. Open and resolve the sources; collect their manifests.
  const opened: Source[] = [];
  const entries: Entry[] = [];
  for (const input of sources) {
    const ref = parseIndexSource(input);
    const layout = await openLayout(path.resolve(cwd, ref.path), {
      strict: options.strict ?? false,
      name: ref.path,
    });
    const source: Source = { input, layout, indexAnnotations: {} };
    const root =
      ref.digest !== undefined
        ? await findDigest(layout, ref.digest)
        : findTag(layout, ref.tag).descriptor;
    await collect(source, withoutTags(root), 0, entries);
    opened.push(source);
    warnings.push(...layout.warnings.map((w) => ({ ...w, message: `${input}: ${w.message}` })));
  }

  // 2. Deduplicate; one manifest per platform.
  const images = new Map<string, Entry>();
  const attestations = new Map<string, Entry>();
  const others = new Map<string, Entry>();
  for (const e of entries) {
    if (e.kind === 'image') {
      const key = platformKey(e.platform as Platform);
      const have = images.get(key);
      if (have === undefined) images.set(key, e);
      else if (have.descriptor.digest !== e.descriptor.digest) {
        const label = platformLabel(e.platform as Platform);
        throw conflict(
          `platform ${quote(label, 100)} is given twice: ${have.descriptor.digest} from ${quote(have.source.input)} and ${e.descriptor.digest} from ${quote(e.source.input)}`,
          'Each platform may come from one source: drop one, or pick the images with LAYOUT@DIGEST.',
          {
            platform: label,
            digests: [have.descriptor.digest, e.descriptor.digest],
            sources: [have.source.input, e.source.input],
          },
        );
      } else
        mergeAnnotations(have.descriptor, e.descriptor, `manifest ${e.descriptor.digest}`, [
          have.source.input,
          e.source.input,
        ]);
    } else {
      // Identical attestations (e.g. of two scratch images) differ only in the subject they name.
      const map = e.kind === 'attestation' ? attestations : others;
      const key =
        e.kind === 'attestation'
          ? `${e.descriptor.digest}|${e.descriptor.annotations?.[Annotation.DockerReferenceDigest] ?? ''}`
          : e.descriptor.digest;
      const have = map.get(key);
      if (have === undefined) map.set(key, e);
      else
        mergeAnnotations(have.descriptor, e.descriptor, `manifest ${e.descriptor.digest}`, [
          have.source.input,
          e.source.input,
        ]);
    }
  }
  const imageDigests = new Set([...images.values()].map((e) => e.descriptor.digest));
  for (const [key, a] of attestations) {
    const subject = a.descriptor.annotations?.[Annotation.DockerReferenceDigest];
    if (subject !== undefined && !imageDigests.has(subject)) {
      attestations.delete(key);
      warnings.push({
        code: 'OCIKIT_W_ATTESTATION_DROPPED',
        message: `${a.source.input}: attestation ${a.descriptor.digest} describes ${subject}, which is not in the new index`,
      });
    }
  }

  // 3. Index annotations: the sources' (agreeing) plus the requested ones.
  const annotations: Record<string, string> = {};
  const origin: Record<string, string> = {};
  for (const s of opened) {
    for (const [k, v] of Object.entries(s.indexAnnotations)) {
      if (options.annotations?.[k] !== undefined) continue;
      if (annotations[k] !== undefined && annotations[k] !== v) {
        throw conflict(
          `index annotation ${quote(k, 100)} is ${quote(annotations[k], 100)} in ${origin[k]} but ${quote(v, 100)} in ${s.input}`,
          `Choose the value: --annotation ${k}=VALUE.`,
          { key: k, values: [annotations[k], v], sources: [origin[k], s.input] },
        );
      }
      annotations[k] = v;
      origin[k] = s.input;
    }
  }
  Object.assign(annotations, options.annotations ?? {});

  // 4. Media types: a Docker manifest list only when every manifest is Docker and nothing asks for annotations.
  const all = [...images.values(), ...others.values(), ...attestations.values()];
  const dockerImages = [...images.values()].filter((e) =>
    isDockerMediaType(e.descriptor.mediaType),
  );
  const allDocker = dockerImages.length > 0 && dockerImages.length === all.length;
  const convert = options.oci === true;
  const dockerList = allDocker && !convert;
  if (dockerList) {
    const carried = all.find((e) => Object.keys(e.descriptor.annotations ?? {}).length > 0);
    const asked =
      Object.keys(annotations).length > 0 ||
      Object.keys(options.descriptorAnnotations ?? {}).length > 0;
    if (asked || carried !== undefined) {
      const what = asked
        ? `annotations were asked for (${[...Object.keys(annotations), ...Object.keys(options.descriptorAnnotations ?? {})].join(', ')})`
        : `${carried?.source.input} gives manifest ${carried?.descriptor.digest} descriptor annotations`;
      throw new OcikitError(
        ErrorCode.AnnotationsUnsupported,
        `the images use Docker media types, so the result would be a Docker manifest list, which cannot carry annotations, but ${what}`,
        {
          hint: 'Add --oci to convert the manifests to OCI media types (new manifest digests; layers and configs unchanged), or drop the annotations.',
          details: { manifests: dockerImages.map((e) => e.descriptor.digest) },
        },
      );
    }
  } else if (dockerImages.length > 0 && !convert) {
    warnings.push({
      code: 'OCIKIT_W_MIXED_MEDIA_TYPES',
      message: `the OCI index references ${dockerImages.length} Docker manifest(s) (${dockerImages.map((e) => e.source.input).join(', ')}); --oci converts them`,
    });
  }

  // 5. Write everything into a temporary sibling of out.
  const inputs = opened.map((s) => ({ path: s.layout.dir, label: `source ${s.input}` }));
  return withOutputs(options.outputs, inputs, cwd, async (set) => {
    const pending = await set.dir('--out', out);
    const written = new Map<string, Buffer>();
    // What each source must give, and the manifest referencing it (none: listed in the new index).
    const needed = new Map<string, { source: Source; roots: Root[] }>();
    const need = (s: Source, descriptor: Descriptor, manifest?: string): void => {
      const n = needed.get(s.input) ?? { source: s, roots: [] };
      n.roots.push(manifest === undefined ? { descriptor } : { descriptor, manifest });
      needed.set(s.input, n);
    };
    const renamed = new Map<string, string>();
    const merged = new Map<Entry, MergedManifest>();
    for (const e of all) {
      const m: MergedManifest = {
        digest: e.descriptor.digest,
        mediaType: e.descriptor.mediaType,
        attestation: e.kind === 'attestation',
        source: e.source.input,
      };
      if (e.platform !== undefined) m.platform = formatPlatform(e.platform);
      merged.set(e, m);
      if (convert && e.kind === 'image' && isDockerMediaType(e.descriptor.mediaType)) {
        const { bytes, needs } = await convertManifest(e);
        const digest = sha256(bytes);
        written.set(digest, bytes);
        renamed.set(e.descriptor.digest, digest);
        m.convertedFrom = e.descriptor.digest;
        m.digest = digest;
        m.mediaType = MediaType.OciManifest;
        e.descriptor = {
          ...e.descriptor,
          mediaType: MediaType.OciManifest,
          digest,
          size: bytes.length,
        };
        for (const d of needs) need(e.source, d, m.convertedFrom);
      } else {
        need(e.source, e.descriptor);
      }
    }
    // Attestations name their subject by digest: follow conversions.
    for (const a of attestations.values()) {
      const subject = a.descriptor.annotations?.[Annotation.DockerReferenceDigest];
      const to = subject === undefined ? undefined : renamed.get(subject);
      if (to !== undefined)
        a.descriptor = {
          ...a.descriptor,
          annotations: {
            ...(a.descriptor.annotations ?? {}),
            [Annotation.DockerReferenceDigest]: to,
          },
        };
    }

    const sortedImages = [...images.values()].sort((a, b) => {
      const ka = platformKey(a.platform as Platform);
      const kb = platformKey(b.platform as Platform);
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    const order = new Map(sortedImages.map((e, i) => [e.descriptor.digest, i]));
    const byDigest = (a: Entry, b: Entry): number =>
      a.descriptor.digest < b.descriptor.digest
        ? -1
        : a.descriptor.digest > b.descriptor.digest
          ? 1
          : 0;
    const sortedAttestations = [...attestations.values()].sort((a, b) => {
      const sa =
        order.get(a.descriptor.annotations?.[Annotation.DockerReferenceDigest] ?? '') ?? Infinity;
      const sb =
        order.get(b.descriptor.annotations?.[Annotation.DockerReferenceDigest] ?? '') ?? Infinity;
      return sa !== sb ? sa - sb : byDigest(a, b);
    });
    const ordered = [
      ...sortedImages,
      ...[...others.values()].sort(byDigest),
      ...sortedAttestations,
    ];
    const descriptors = ordered.map((e) => {
      if (!dockerList) return e.descriptor;
      const d: Descriptor = {
        mediaType: e.descriptor.mediaType,
        digest: e.descriptor.digest,
        size: e.descriptor.size,
      };
      if (e.descriptor.platform !== undefined) d.platform = e.descriptor.platform;
      return d;
    });
    const indexDoc: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: dockerList ? MediaType.DockerManifestList : MediaType.OciIndex,
      manifests: descriptors,
    };
    if (Object.keys(annotations).length > 0) indexDoc['annotations'] = annotations;
    const indexBytes = Buffer.from(canonicalJson(indexDoc));
    const indexDigest = sha256(indexBytes);
    written.set(indexDigest, indexBytes);
    const descriptor: Descriptor = {
      mediaType: indexDoc['mediaType'] as string,
      digest: indexDigest,
      size: indexBytes.length,
    };

    // Blobs: the sources' (copied or linked, and verified), then the new JSON documents.
    // One walk per root, so that every blob is known with the manifest that references it.
    const blobs = new Map<string, { blob: ReachableBlob; source: Source; manifest?: string }>();
    for (const { source, roots } of needed.values()) {
      for (const root of roots) {
        for (const [digest, blob] of await reachableBlobs(source.layout, [root.descriptor])) {
          if (blobs.has(digest) || written.has(digest)) continue;
          const manifest =
            digest === root.descriptor.digest ? root.manifest : root.descriptor.digest;
          blobs.set(digest, manifest === undefined ? { blob, source } : { blob, source, manifest });
        }
      }
    }
    const dirs = new Set<string>();
    const target = (digest: string): string => {
      const rel = blobRelPath(parseDigest(digest));
      dirs.add(path.dirname(rel));
      return path.join(pending.tmp, rel);
    };
    const jobs: BlobToTake[] = [...blobs.values()]
      .sort((a, b) => (a.blob.digest.value < b.blob.digest.value ? -1 : 1))
      .map(({ blob, source, manifest }) => ({
        digest: blob.digest,
        size: blob.descriptor.size,
        from: blob.file.path,
        to: target(blob.digest.value),
        source: source.input,
        relPath: blob.file.relPath,
        ...(manifest !== undefined ? { manifest } : {}),
      }));
    for (const d of written.keys()) target(d);
    const write = async (file: string, bytes: string | Buffer, what: string): Promise<void> => {
      try {
        await fsp.writeFile(file, bytes, { flag: 'wx', mode: 0o644 });
      } catch (e) {
        throw fsError(e, { path: file, side: 'output', what });
      }
    };
    for (const d of dirs) {
      const dir = path.join(pending.tmp, d);
      await fsp.mkdir(dir, { recursive: true }).catch((e: unknown) => {
        throw fsError(e, { path: dir, side: 'output', what: 'create the blob directory' });
      });
    }
    const trustInputs = options.trustInputs === true;
    const taken = await takeBlobs(jobs, { link, trustInputs });
    const blobList: MergedBlob[] = jobs.map((j, i) => ({
      digest: j.digest.value,
      size: j.size,
      how: taken[i] ?? 'copied',
      source: j.source,
    }));
    for (const [digest, bytes] of written) {
      await write(target(digest), bytes, `write blob ${digest}`);
      blobList.push({ digest, size: bytes.length, how: 'written' });
    }
    blobList.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    const counts = {
      total: blobList.length,
      copied: taken.filter((h) => h === 'copied').length,
      linked: taken.filter((h) => h === 'linked').length,
      written: written.size,
      verified: trustInputs ? 0 : jobs.length,
    };

    const descriptorAnnotations = { ...(options.descriptorAnnotations ?? {}) };
    const entryFor = (tag?: string): Descriptor => {
      const a =
        tag === undefined
          ? descriptorAnnotations
          : { ...descriptorAnnotations, [Annotation.RefName]: tag };
      return Object.keys(a).length > 0 ? { ...descriptor, annotations: a } : { ...descriptor };
    };
    const indexJson = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: tags.length > 0 ? tags.map(entryFor) : [entryFor()],
    };
    await write(
      path.join(pending.tmp, 'oci-layout'),
      canonicalJson({ imageLayoutVersion: '1.0.0' }),
      'write oci-layout',
    );
    await write(path.join(pending.tmp, 'index.json'), canonicalJson(indexJson), 'write index.json');

    // Check what was written before it is published: every blob there, with its size.
    const result = await openLayout(pending.tmp, { name: out });
    try {
      await reachableBlobs(result, result.index.manifests);
    } catch (e) {
      // The environment failing (no space, no descriptors, EIO) is not a bug of the merge.
      if (
        e instanceof OcikitError &&
        (e.code === ErrorCode.NoSpace ||
          e.code === ErrorCode.TooManyOpenFiles ||
          e.code === ErrorCode.IoError)
      )
        throw e;
      throw new OcikitError(
        ErrorCode.Internal,
        `the merged layout is incomplete: ${(e as Error).message}`,
        {
          hint: 'Please report this.',
          cause: e,
        },
      );
    }
    return {
      out,
      descriptor,
      manifests: ordered.map((e) => merged.get(e) as MergedManifest),
      annotations,
      tags,
      blobs: counts,
      blobList,
      warnings,
    };
  });
}
