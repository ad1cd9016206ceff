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
 * - Blobs are hardlinked from the sources where the filesystem allows, else copied and
 *   hashed; never symlinked: the output stands alone. Sources are only read.
 * - JSON is canonical (sorted keys); the manifests are sorted by platform, so the same
 *   sources in any order give the same bytes. Written to a temporary sibling, verified,
 *   renamed into place.
 */
import { createHash } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import path from 'node:path';
import { reachableBlobs, type ReachableBlob } from './archive/reachable.js';
import { parseLayoutRef, type LayoutRef } from './buildx/ref.js';
import { blobRelPath, parseDigest } from './digest.js';
import {
  ErrorCode,
  OcikitError,
  environmentError,
  errnoCode,
  fsError,
  isEnvironmentErrno,
  isOcikitError,
  quote,
} from './errors.js';
import { hashFiles } from './hash.js';
import { openLayout, type Layout } from './layout.js';
import {
  Annotation,
  MediaType,
  isDockerMediaType,
  isIndexMediaType,
  isManifestMediaType,
} from './media-types.js';
import { OutputSet } from './output/outputs.js';
import { formatPlatform, isAttestation, normalizePlatform } from './platform.js';
import { MAX_INDEX_DEPTH, findDigest, findTag, manifestPlatform } from './resolve.js';
import type { Descriptor, Platform, Warning } from './schema.js';
import { canonicalJson } from './thin-copy.js';

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
  /** The run's outputs (the caller commits); default: a set of its own, committed on success. */
  outputs?: OutputSet;
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

/** The result of {@link mergeIndex}. */
export interface MergeResult {
  out: string;
  /** The new index's descriptor (as in index.json, without tags). */
  descriptor: Descriptor;
  manifests: MergedManifest[];
  annotations: Record<string, string>;
  tags: string[];
  blobs: { total: number; linked: number; copied: number; written: number };
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

/** Blobs linked (or copied) at the same time. */
const PLACE_CONCURRENCY = 8;

async function placeBlob(blob: ReachableBlob, target: string): Promise<'linked' | 'copied'> {
  const real = await fsp.realpath(blob.file.path);
  try {
    await fsp.link(real, target);
    const st = await fsp.stat(target);
    if (st.size !== blob.descriptor.size) {
      throw new OcikitError(
        ErrorCode.BlobSizeMismatch,
        `blob ${blob.digest.value} is ${st.size} bytes, the descriptor says ${blob.descriptor.size}`,
        {
          hint: 'The source changed while ocikit read it.',
          details: { digest: blob.digest.value },
        },
      );
    }
    return 'linked';
  } catch (e) {
    if (isOcikitError(e)) throw e;
    const code = errnoCode(e);
    if (code === 'EEXIST') throw e;
    // EXDEV (another filesystem), EPERM (protected_hardlinks, no link support), EMLINK, ...
    await fsp.copyFile(real, target, fsc.COPYFILE_FICLONE);
    return 'copied';
  }
}

/**
 * The coded error of a failure while the new layout is written: a source blob that a copy
 * could not read is the input's (`OCIKIT_BLOB_UNREADABLE`); mkdir, link, copy and write
 * failures are the output's, by cause first (ENOSPC, EMFILE, EIO).
 */
async function writeFailure(e: unknown, out: string): Promise<OcikitError> {
  const byCause = environmentError(e, {
    path: out,
    side: 'output',
    what: 'write the merged layout',
  });
  if (byCause !== undefined || isOcikitError(e)) return byCause ?? (e as OcikitError);
  const { syscall, path: src } = e as { syscall?: unknown; path?: unknown };
  if (syscall === 'copyfile' && typeof src === 'string') {
    const readable = await fsp.access(src, fsc.R_OK).then(
      () => true,
      () => false,
    );
    if (!readable) {
      return new OcikitError(
        ErrorCode.BlobUnreadable,
        `cannot read ${quote(src, 400)} to copy it into ${quote(out, 400)} (${errnoCode(e) ?? 'unknown'})`,
        {
          hint: 'Every blob of the source layouts must be readable by this user.',
          details: { path: src },
          cause: e,
        },
      );
    }
  }
  return fsError(e, { path: out, side: 'output', what: 'write the merged layout' });
}

/**
 * Merge the images of `sources` into a new layout at `out` (absolute; new or empty).
 * @throws OcikitError `OCIKIT_USAGE`, `OCIKIT_INDEX_CONFLICT`, `OCIKIT_ANNOTATIONS_UNSUPPORTED`,
 *   `OCIKIT_MEDIA_TYPE_UNSUPPORTED`, `OCIKIT_OUT_*`, `OCIKIT_BLOB_*`, and the errors of opening
 *   and resolving the sources (`OCIKIT_LAYOUT_NOT_FOUND`, `OCIKIT_TAG_NOT_FOUND`, ...)
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
        : findTag(layout, ref.tag ?? 'latest').descriptor;
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
          `platform ${label} is given twice: ${have.descriptor.digest} from ${have.source.input} and ${e.descriptor.digest} from ${e.source.input}`,
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

  // 5. Write everything into a temporary sibling of out: an output of the run's set, committed
  // with the run's other outputs (all or nothing), or of a set of its own.
  const own = options.outputs === undefined ? new OutputSet({ cwd }) : undefined;
  const set = options.outputs ?? (own as OutputSet);
  try {
    await set.addInputs(opened.map((s) => ({ path: s.layout.dir, label: `source ${s.input}` })));
    const pending = await set.dir('--out', out);
    const written = new Map<string, Buffer>();
    const needed = new Map<string, { source: Source; roots: Descriptor[] }>();
    const need = (s: Source, d: Descriptor): void => {
      const n = needed.get(s.input) ?? { source: s, roots: [] };
      n.roots.push(d);
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
        for (const d of needs) need(e.source, d);
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

    // Blobs: the sources' (linked or copied), then the new JSON documents.
    const blobs = new Map<string, ReachableBlob>();
    for (const { source, roots } of needed.values()) {
      for (const [digest, blob] of await reachableBlobs(source.layout, roots))
        if (!blobs.has(digest) && !written.has(digest)) blobs.set(digest, blob);
    }
    const counts = { total: 0, linked: 0, copied: 0, written: 0 };
    const dirs = new Set<string>();
    const target = (digest: string): string => {
      const rel = blobRelPath(parseDigest(digest));
      dirs.add(path.dirname(rel));
      return path.join(pending.tmp, rel);
    };
    for (const d of [...blobs.keys(), ...written.keys()]) target(d);
    for (const d of dirs) await fsp.mkdir(path.join(pending.tmp, d), { recursive: true });
    const copies: ReachableBlob[] = [];
    // Links are cheap but each is a few system calls: keep the thread pool busy.
    const queue = [...blobs.values()];
    const place = async (): Promise<void> => {
      for (let blob = queue.shift(); blob !== undefined; blob = queue.shift()) {
        const how = await placeBlob(blob, target(blob.digest.value)).catch((e: unknown) => {
          queue.length = 0; // the first failure stops every worker
          throw e;
        });
        counts[how]++;
        if (how === 'copied') copies.push(blob);
      }
    };
    // Every worker has stopped before a failure is thrown: none may still be copying into the
    // temporary directory (or holding descriptors) while it is removed.
    const placed = await Promise.allSettled(Array.from({ length: PLACE_CONCURRENCY }, place));
    for (const p of placed) if (p.status === 'rejected') throw p.reason;
    copies.sort((a, b) => (a.digest.value < b.digest.value ? -1 : 1));
    if (copies.length > 0) {
      const results = await hashFiles(
        copies.map((b) => ({
          path: target(b.digest.value),
          algorithm: b.digest.algorithm,
          size: b.descriptor.size,
        })),
      );
      copies.forEach((b, i) => {
        const r = results[i];
        // Out of descriptors (or EIO) reading the copy back says nothing about the blob.
        if (r !== undefined && 'error' in r && isEnvironmentErrno(r.error)) {
          throw fsError(Object.assign(new Error(r.error), { code: r.error }), {
            path: target(b.digest.value),
            side: 'output',
            what: 'check a copied blob',
          });
        }
        const actual = r !== undefined && 'hex' in r ? `${b.digest.algorithm}:${r.hex}` : undefined;
        if (actual !== b.digest.value) {
          throw new OcikitError(
            ErrorCode.BlobDigestMismatch,
            `blob ${b.digest.value} from ${b.file.relPath} copied with content ${actual ?? `unreadable (${r !== undefined && 'error' in r ? r.error : 'EIO'})`}`,
            {
              hint: 'The source blob is corrupt; verify the source layout (ocikit verify) and copy it again.',
              details: { digest: b.digest.value },
            },
          );
        }
      });
    }
    for (const [digest, bytes] of written) {
      await fsp.writeFile(target(digest), bytes, { flag: 'wx', mode: 0o644 });
      counts.written++;
    }
    counts.total = blobs.size + written.size;

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
    await fsp.writeFile(
      path.join(pending.tmp, 'oci-layout'),
      canonicalJson({ imageLayoutVersion: '1.0.0' }),
      { flag: 'wx' },
    );
    await fsp.writeFile(path.join(pending.tmp, 'index.json'), canonicalJson(indexJson), {
      flag: 'wx',
    });

    // Check what was written before it is published: every blob there, with its size.
    const result = await openLayout(pending.tmp, { name: out });
    try {
      await reachableBlobs(result, result.index.manifests);
    } catch (e) {
      throw new OcikitError(
        ErrorCode.Internal,
        `the merged layout is incomplete: ${(e as Error).message}`,
        {
          hint: 'Please report this.',
          cause: e,
        },
      );
    }
    await own?.commit();
    return {
      out,
      descriptor,
      manifests: ordered.map((e) => merged.get(e) as MergedManifest),
      annotations,
      tags,
      blobs: counts,
      warnings,
    };
  } catch (e) {
    throw await writeFailure(e, out);
  } finally {
    await own?.close();
  }
}
