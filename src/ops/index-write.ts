/**
 * The writing half of `ocikit index` (index-merge.ts decides what goes in): Docker manifests
 * converted when asked, the new image index in canonical JSON with its manifests in a fixed
 * order, every blob taken from its source (take-blobs.ts) or written, then oci-layout and
 * index.json, and the result checked before it is published.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { reachableBlobs, type ReachableBlob } from '../archive/reachable.js';
import { blobRelPath, parseDigest } from '../layout/digest.js';
import { ErrorCode, OcikitError, fsError } from '../errors.js';
import { canonicalJson } from '../layout/json.js';
import { openLayout, type Layout } from '../layout/layout.js';
import { Annotation, MediaType, isDockerMediaType } from '../layout/media-types.js';
import { formatPlatform, normalizePlatform } from '../layout/platform.js';
import type { Descriptor, Platform } from '../layout/schema.js';
import { takeBlobs, type BlobToTake, type LinkMode } from './take-blobs.js';

/** One source layout of the merge. */
export interface Source {
  input: string;
  layout: Layout;
  /** Index annotations of the source's root, when it is an index. */
  indexAnnotations: Record<string, string>;
}

/** One descriptor a source contributes to the new index. */
export interface Entry {
  source: Source;
  descriptor: Descriptor;
  kind: 'image' | 'attestation' | 'other';
  platform?: Platform;
}

/** What goes into the new index, deduplicated (index-merge.ts selectManifests). */
export interface Selection {
  /** One image manifest per platform key. */
  images: Map<string, Entry>;
  /** Attestation manifests, each with the image it describes. */
  attestations: Map<string, Entry>;
  /** Anything else an index named (artifacts), by digest. */
  others: Map<string, Entry>;
}

/** How the new layout is written. */
export interface WritePlan {
  selection: Selection;
  /** Index annotations of the new index. */
  annotations: Record<string, string>;
  /** Write a Docker manifest list (every manifest Docker, nothing annotated). */
  dockerList: boolean;
  /** Convert Docker manifests to OCI media types. */
  convert: boolean;
  /** index.json: the new index under each tag (none: once, untagged), with these annotations. */
  tags: readonly string[];
  descriptorAnnotations: Record<string, string>;
  link: LinkMode;
  trustInputs: boolean;
}

/** One manifest of the new index, as reported. */
export interface WrittenManifest {
  digest: string;
  mediaType: string;
  platform?: string;
  attestation: boolean;
  source: string;
  convertedFrom?: string;
}

/** One blob of the new layout and how it got there. */
export interface WrittenBlob {
  digest: string;
  size: number;
  how: 'copied' | 'linked' | 'written';
  source?: string;
}

/** What {@link writeMerged} wrote. */
export interface Written {
  descriptor: Descriptor;
  manifests: WrittenManifest[];
  blobs: { total: number; linked: number; copied: number; written: number; verified: number };
  blobList: WrittenBlob[];
}

/** A descriptor a source must give, and the manifest that references it (none: the new index does). */
interface Root {
  source: Source;
  descriptor: Descriptor;
  manifest?: string;
}

/** The sort key of a platform: normalised os/arch/variant, os.version, sorted os.features. */
export function platformKey(p: Platform): string {
  const n = normalizePlatform(p);
  return [
    formatPlatform(n),
    p['os.version'] ?? '',
    [...(p['os.features'] ?? [])].sort().join(','),
  ].join('|');
}

/**
 * Write the merged layout into `dir` (the pending output) and check it; `out` names it in
 * messages.
 * @throws OcikitError `OCIKIT_MEDIA_TYPE_UNSUPPORTED` (conversion), the errors of taking blobs,
 *   by cause `OCIKIT_NO_SPACE` etc., `OCIKIT_INTERNAL` when the result is incomplete
 */
export async function writeMerged(dir: string, out: string, plan: WritePlan): Promise<Written> {
  const documents = new Map<string, Buffer>();
  const { manifests, needed } = await convertManifests(plan, documents);
  const ordered = orderEntries(plan.selection);
  const descriptor = indexDocument(ordered, plan, documents);
  const { blobList, blobs } = await writeBlobs(dir, needed, documents, plan);
  await writeLayoutFiles(dir, descriptor, plan);
  await checkWritten(dir, out);
  return {
    descriptor,
    manifests: ordered.map((e) => manifests.get(e) as WrittenManifest),
    blobs,
    blobList,
  };
}

/**
 * The report of every entry, Docker manifests converted (with `convert`; new bytes into
 * `documents`, attestation subjects renamed), and what each source must give.
 */
async function convertManifests(
  plan: WritePlan,
  documents: Map<string, Buffer>,
): Promise<{ manifests: Map<Entry, WrittenManifest>; needed: Root[] }> {
  const { images, attestations, others } = plan.selection;
  // Grouped by source, in the order sources first need something (the first source to give a
  // shared blob is the one it is taken from).
  const needed = new Map<Source, Root[]>();
  const need = (source: Source, descriptor: Descriptor, manifest?: string): void => {
    const roots = needed.get(source) ?? [];
    roots.push(manifest === undefined ? { source, descriptor } : { source, descriptor, manifest });
    needed.set(source, roots);
  };
  const renamed = new Map<string, string>();
  const manifests = new Map<Entry, WrittenManifest>();
  for (const e of [...images.values(), ...others.values(), ...attestations.values()]) {
    const m: WrittenManifest = {
      digest: e.descriptor.digest,
      mediaType: e.descriptor.mediaType,
      attestation: e.kind === 'attestation',
      source: e.source.input,
    };
    if (e.platform !== undefined) m.platform = formatPlatform(e.platform);
    manifests.set(e, m);
    if (plan.convert && e.kind === 'image' && isDockerMediaType(e.descriptor.mediaType)) {
      const { bytes, needs } = await convertManifest(e);
      const digest = sha256(bytes);
      documents.set(digest, bytes);
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
  return { manifests, needed: [...needed.values()].flat() };
}

/** Images by platform, then other artifacts by digest, then attestations after their images. */
function orderEntries({ images, attestations, others }: Selection): Entry[] {
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
  const subjectOrder = (e: Entry): number =>
    order.get(e.descriptor.annotations?.[Annotation.DockerReferenceDigest] ?? '') ?? Infinity;
  const sortedAttestations = [...attestations.values()].sort((a, b) => {
    const sa = subjectOrder(a);
    const sb = subjectOrder(b);
    return sa !== sb ? sa - sb : byDigest(a, b);
  });
  return [...sortedImages, ...[...others.values()].sort(byDigest), ...sortedAttestations];
}

/** The new image index (or Docker manifest list), into `documents`; its descriptor. */
function indexDocument(
  ordered: readonly Entry[],
  plan: WritePlan,
  documents: Map<string, Buffer>,
): Descriptor {
  const descriptors = ordered.map((e) => {
    if (!plan.dockerList) return e.descriptor;
    const d: Descriptor = {
      mediaType: e.descriptor.mediaType,
      digest: e.descriptor.digest,
      size: e.descriptor.size,
    };
    if (e.descriptor.platform !== undefined) d.platform = e.descriptor.platform;
    return d;
  });
  const mediaType = plan.dockerList ? MediaType.DockerManifestList : MediaType.OciIndex;
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType, manifests: descriptors };
  if (Object.keys(plan.annotations).length > 0) doc['annotations'] = plan.annotations;
  const bytes = Buffer.from(canonicalJson(doc));
  const digest = sha256(bytes);
  documents.set(digest, bytes);
  return { mediaType, digest, size: bytes.length };
}

/**
 * The sources' blobs (copied or linked, and verified), then the new JSON documents. One walk
 * per root, so that every blob is known with the manifest that references it.
 */
async function writeBlobs(
  dir: string,
  needed: readonly Root[],
  documents: Map<string, Buffer>,
  plan: WritePlan,
): Promise<Pick<Written, 'blobs' | 'blobList'>> {
  const blobs = new Map<string, { blob: ReachableBlob; source: Source; manifest?: string }>();
  for (const root of needed) {
    for (const [digest, blob] of await reachableBlobs(root.source.layout, [root.descriptor])) {
      if (blobs.has(digest) || documents.has(digest)) continue;
      const manifest = digest === root.descriptor.digest ? root.manifest : root.descriptor.digest;
      const source = root.source;
      blobs.set(digest, manifest === undefined ? { blob, source } : { blob, source, manifest });
    }
  }
  const dirs = new Set<string>();
  const target = (digest: string): string => {
    const rel = blobRelPath(parseDigest(digest));
    dirs.add(path.dirname(rel));
    return path.join(dir, rel);
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
  for (const d of documents.keys()) target(d);
  for (const d of dirs) {
    const blobDir = path.join(dir, d);
    await fsp.mkdir(blobDir, { recursive: true }).catch((e: unknown) => {
      throw fsError(e, { path: blobDir, side: 'output', what: 'create the blob directory' });
    });
  }
  const taken = await takeBlobs(jobs, { link: plan.link, trustInputs: plan.trustInputs });
  const blobList: WrittenBlob[] = jobs.map((j, i) => ({
    digest: j.digest.value,
    size: j.size,
    how: taken[i] ?? 'copied',
    source: j.source,
  }));
  for (const [digest, bytes] of documents) {
    await writeNew(target(digest), bytes, `write blob ${digest}`);
    blobList.push({ digest, size: bytes.length, how: 'written' });
  }
  blobList.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  return {
    blobList,
    blobs: {
      total: blobList.length,
      copied: taken.filter((h) => h === 'copied').length,
      linked: taken.filter((h) => h === 'linked').length,
      written: documents.size,
      verified: plan.trustInputs ? 0 : jobs.length,
    },
  };
}

/** oci-layout, and index.json naming the new index once per tag. */
async function writeLayoutFiles(
  dir: string,
  descriptor: Descriptor,
  plan: WritePlan,
): Promise<void> {
  const entryFor = (tag?: string): Descriptor => {
    const a =
      tag === undefined
        ? plan.descriptorAnnotations
        : { ...plan.descriptorAnnotations, [Annotation.RefName]: tag };
    return Object.keys(a).length > 0 ? { ...descriptor, annotations: a } : { ...descriptor };
  };
  const indexJson = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: plan.tags.length > 0 ? plan.tags.map(entryFor) : [entryFor()],
  };
  await writeNew(
    path.join(dir, 'oci-layout'),
    canonicalJson({ imageLayoutVersion: '1.0.0' }),
    'write oci-layout',
  );
  await writeNew(path.join(dir, 'index.json'), canonicalJson(indexJson), 'write index.json');
}

/** What was written, before it is published: every blob there, with its size. */
async function checkWritten(dir: string, out: string): Promise<void> {
  const result = await openLayout(dir, { name: out });
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
      { hint: 'Please report this.', cause: e },
    );
  }
}

async function writeNew(file: string, bytes: string | Buffer, what: string): Promise<void> {
  try {
    await fsp.writeFile(file, bytes, { flag: 'wx', mode: 0o644 });
  } catch (e) {
    throw fsError(e, { path: file, side: 'output', what });
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
