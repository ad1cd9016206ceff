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
import path from 'node:path';
import { refNotFound, resolveLayoutRef, type LayoutRef } from '../layout/reference.js';
import { ErrorCode, OcikitError, quote } from '../errors.js';
import { openLayout } from '../layout/layout.js';
import { walkGraph } from '../layout/graph.js';
import {
  Annotation,
  isDockerMediaType,
  isIndexMediaType,
  isManifestMediaType,
} from '../layout/media-types.js';
import { withOutputs, type OutputSet } from '../output/outputs.js';
import { formatPlatform, isAttestation, normalizePlatform } from '../layout/platform.js';
import { findDigest, findTag, manifestPlatform } from '../layout/resolve.js';
import type { Descriptor, Platform, Warning } from '../layout/schema.js';
import { LINK_MODES, type LinkMode } from './take-blobs.js';
import {
  platformKey,
  writeMerged,
  type Entry,
  type Selection,
  type Source,
  type WrittenBlob,
  type WrittenManifest,
} from './index-write.js';

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
export type MergedManifest = WrittenManifest;

/** One blob of the new layout and how it got there: `copied` (a reflink where the file system could clone), `linked` (hardlink) or `written` (new JSON); `source` as given, absent for written blobs. */
export type MergedBlob = WrittenBlob;

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

/**
 * Whether `tag` may be written as `org.opencontainers.image.ref.name` (`ocikit index --tag`):
 * the image spec's grammar, at most 255 characters. rules/private/common.bzl is_ref_name() is
 * the same rule in Starlark.
 */
export function isRefName(tag: string): boolean {
  return tag.length <= 255 && REF_NAME.test(tag);
}

/**
 * Split `LAYOUT[:TAG|@DIGEST]` where LAYOUT names an existing layout, as every command that
 * reads a layout does (the one reference grammar: a tag may be a full name such as
 * `example.com/team/app:v1`, which buildx writes as io.containerd.image.name).
 * @throws OcikitError `OCIKIT_LAYOUT_NOT_FOUND`, `OCIKIT_REF_AMBIGUOUS`, `OCIKIT_USAGE`,
 *   `OCIKIT_DIGEST_INVALID`
 */
export async function parseIndexSource(value: string, cwd: string): Promise<LayoutRef> {
  const where = `source ${value}`;
  const found = await resolveLayoutRef(value, cwd, where);
  if (found === undefined || found.target === 'missing') throw refNotFound(value, where);
  return found.ref;
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

function platformLabel(p: Platform): string {
  return `${formatPlatform(normalizePlatform(p))}${p['os.version'] !== undefined ? ` (os.version ${p['os.version']})` : ''}`;
}

/**
 * What `root` of `source` contributes: itself when it is an image manifest, else every image,
 * attestation and artifact below it, found by the one graph walk (indexes expanded, shared
 * subtrees once, one depth rule). Records the root index's annotations on `source`.
 */
async function collect(source: Source, root: Descriptor): Promise<Entry[]> {
  if (isManifestMediaType(root.mediaType)) {
    const platform = await manifestPlatform(source.layout, root);
    return [{ source, descriptor: { ...root, platform }, kind: 'image', platform }];
  }
  if (!isIndexMediaType(root.mediaType)) {
    throw new OcikitError(
      ErrorCode.MediaTypeUnsupported,
      `${source.input}: ${root.digest} has media type ${root.mediaType}, not an image or index`,
      {
        hint: 'Name an image manifest or index (see ocikit inspect).',
        details: { digest: root.digest },
      },
    );
  }
  source.indexAnnotations = { ...((await source.layout.readIndex(root)).annotations ?? {}) };
  const graph = await walkGraph(source.layout, [{ descriptor: root }], {
    expand: (kind) => kind === 'index',
    contexts: false,
  });
  const entries: Entry[] = [];
  for (const node of graph.nodes.values()) {
    if (node.kind !== 'index') continue;
    // Every descriptor each index writes (one index may name a blob twice, with different
    // annotations: BuildKit's identical attestations of two scratch images), in document order.
    for (const child of (await source.layout.readIndex(node.descriptor)).manifests) {
      const descriptor = { ...child };
      if (isAttestation(descriptor)) entries.push({ source, descriptor, kind: 'attestation' });
      else if (isManifestMediaType(descriptor.mediaType)) {
        const platform = await manifestPlatform(source.layout, descriptor);
        entries.push({ source, descriptor: { ...descriptor, platform }, kind: 'image', platform });
      } else if (!isIndexMediaType(descriptor.mediaType))
        entries.push({ source, descriptor, kind: 'other' });
    }
  }
  return entries;
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
  const { tags, link } = checkOptions(sources, options);
  const cwd = options.cwd ?? process.cwd();
  const warnings: Warning[] = [];
  const opened: Source[] = [];
  const entries: Entry[] = [];
  for (const input of sources) {
    const ref = await parseIndexSource(input, cwd);
    const layout = await openLayout(path.resolve(cwd, ref.path), {
      strict: options.strict ?? false,
      name: ref.path,
    });
    const source: Source = { input, layout, indexAnnotations: {} };
    const root =
      ref.digest !== undefined
        ? await findDigest(layout, ref.digest)
        : findTag(layout, ref.tag).descriptor;
    entries.push(...(await collect(source, withoutTags(root))));
    opened.push(source);
    warnings.push(...layout.warnings.map((w) => ({ ...w, message: `${input}: ${w.message}` })));
  }
  const selection = selectManifests(entries, warnings);
  const annotations = indexAnnotations(opened, options);
  const dockerList = useDockerList(selection, annotations, options, warnings);
  const inputs = opened.map((s) => ({ path: s.layout.dir, label: `source ${s.input}` }));
  return withOutputs(options.outputs, inputs, cwd, async (set) => {
    const pending = await set.dir('--out', out);
    const written = await writeMerged(pending.tmp, out, {
      selection,
      annotations,
      dockerList,
      convert: options.oci === true,
      tags,
      descriptorAnnotations: { ...(options.descriptorAnnotations ?? {}) },
      link,
      trustInputs: options.trustInputs === true,
    });
    return { out, annotations, tags, warnings, ...written };
  });
}

/** The tags and link mode, checked. */
function checkOptions(
  sources: readonly string[],
  options: MergeOptions,
): { tags: string[]; link: LinkMode } {
  if (sources.length === 0) {
    throw new OcikitError(ErrorCode.Usage, 'ocikit index needs at least one source layout', {
      hint: 'Pass LAYOUT[:TAG|@DIGEST] for each image to combine.',
    });
  }
  const tags = [...new Set(options.tags ?? [])];
  for (const tag of tags) {
    if (!isRefName(tag)) {
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
  return { tags, link };
}

/**
 * One manifest per platform (the same one twice is kept once, its descriptor annotations
 * merged; two different ones conflict), attestations with their subjects (one whose subject
 * is not in the new index is dropped with a warning), artifacts by digest.
 * @throws OcikitError `OCIKIT_INDEX_CONFLICT`
 */
function selectManifests(entries: readonly Entry[], warnings: Warning[]): Selection {
  const selection: Selection = { images: new Map(), attestations: new Map(), others: new Map() };
  const { images, attestations, others } = selection;
  const merge = (have: Entry, e: Entry): void =>
    mergeAnnotations(have.descriptor, e.descriptor, `manifest ${e.descriptor.digest}`, [
      have.source.input,
      e.source.input,
    ]);
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
      } else merge(have, e);
    } else {
      // Identical attestations (e.g. of two scratch images) differ only in the subject they name.
      const map = e.kind === 'attestation' ? attestations : others;
      const key =
        e.kind === 'attestation'
          ? `${e.descriptor.digest}|${e.descriptor.annotations?.[Annotation.DockerReferenceDigest] ?? ''}`
          : e.descriptor.digest;
      const have = map.get(key);
      if (have === undefined) map.set(key, e);
      else merge(have, e);
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
  return selection;
}

/**
 * The sources' (agreeing) index annotations, then the requested ones on top.
 * @throws OcikitError `OCIKIT_INDEX_CONFLICT` (a key with two values nobody decided)
 */
function indexAnnotations(
  opened: readonly Source[],
  options: MergeOptions,
): Record<string, string> {
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
  return Object.assign(annotations, options.annotations ?? {});
}

/**
 * A Docker manifest list only when every manifest is Docker and `oci` is not asked for; then
 * no annotation may be asked for or carried. Mixed media types draw a warning.
 * @throws OcikitError `OCIKIT_ANNOTATIONS_UNSUPPORTED`
 */
function useDockerList(
  { images, attestations, others }: Selection,
  annotations: Record<string, string>,
  options: MergeOptions,
  warnings: Warning[],
): boolean {
  const all = [...images.values(), ...others.values(), ...attestations.values()];
  const dockerImages = [...images.values()].filter((e) =>
    isDockerMediaType(e.descriptor.mediaType),
  );
  const convert = options.oci === true;
  const dockerList = dockerImages.length > 0 && dockerImages.length === all.length && !convert;
  if (dockerList) {
    const carried = all.find((e) => Object.keys(e.descriptor.annotations ?? {}).length > 0);
    const asked = [
      ...Object.keys(annotations),
      ...Object.keys(options.descriptorAnnotations ?? {}),
    ];
    if (asked.length > 0 || carried !== undefined) {
      const what =
        asked.length > 0
          ? `annotations were asked for (${asked.join(', ')})`
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
  return dockerList;
}
