/**
 * `--annotation` requests (`[TYPE[,TYPE]][[PLATFORM]]:KEY=VALUE`, as buildx takes them), the
 * check that an output layout carries every one of them, and the repair of index-level ones
 * (PROBLEMS §4: a multi-node merge drops index annotations).
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { blobRelPath, parseDigest } from '../layout/digest.js';
import { ErrorCode, OcikitError } from '../errors.js';
import { manifestsBelow, walkGraph } from '../layout/graph.js';
import type { Layout } from '../layout/layout.js';
import { isDockerMediaType, isIndexMediaType } from '../layout/media-types.js';
import {
  formatPlatform,
  isAttestation,
  parsePlatform,
  platformMatches,
} from '../layout/platform.js';
import type { Descriptor, Platform } from '../layout/schema.js';
import { manifestPlatform } from '../layout/resolve.js';

/** Where an annotation goes. */
export type AnnotationTarget = 'index' | 'manifest' | 'manifest-descriptor' | 'index-descriptor';

/** One requested annotation. */
export interface AnnotationRequest {
  targets: AnnotationTarget[];
  platform?: Platform;
  key: string;
  value: string;
  /** As given on the command line. */
  raw: string;
}

/** One annotation that is not where it was asked for. */
export interface MissingAnnotation {
  target: AnnotationTarget;
  key: string;
  value: string;
  /** The digest of the index or manifest that lacks it (or `index.json`). */
  where: string;
  platform?: string;
  /** What is there instead, if the key exists with another value. */
  actual?: string;
}

const TARGETS = new Set<AnnotationTarget>([
  'index',
  'manifest',
  'manifest-descriptor',
  'index-descriptor',
]);
const PREFIX = /^([a-z-]+(?:,[a-z-]+)*)(?:\[([^\]]+)\])?:(.*)$/s;

/**
 * Parse one `--annotation` value. No prefix means `manifest`, as in buildx.
 * @throws OcikitError `OCIKIT_USAGE`
 */
export function parseAnnotation(raw: string): AnnotationRequest {
  let targets: AnnotationTarget[] = ['manifest'];
  let platform: Platform | undefined;
  let kv = raw;
  const m = PREFIX.exec(raw);
  if (m !== null && (m[1] as string).split(',').every((t) => TARGETS.has(t as AnnotationTarget))) {
    targets = (m[1] as string).split(',') as AnnotationTarget[];
    if (m[2] !== undefined) platform = parsePlatform(m[2]);
    kv = m[3] as string;
  }
  const eq = kv.indexOf('=');
  if (eq <= 0) {
    throw new OcikitError(
      ErrorCode.Usage,
      `--annotation ${JSON.stringify(raw)} is not [TYPE:]KEY=VALUE`,
      {
        hint: 'For example --annotation index:org.opencontainers.image.title=app.',
      },
    );
  }
  const req: AnnotationRequest = { targets, key: kv.slice(0, eq), value: kv.slice(eq + 1), raw };
  if (platform !== undefined) req.platform = platform;
  return req;
}

interface ImageView {
  /** The descriptor of the image in index.json. */
  top: Descriptor;
  index?: { annotations: Record<string, string> };
  manifests: { descriptor: Descriptor; platform: Platform; annotations: Record<string, string> }[];
}

async function view(layout: Layout, digest: string): Promise<ImageView> {
  const top = layout.index.manifests.find((d) => d.digest === digest);
  if (top === undefined) {
    throw new OcikitError(
      ErrorCode.OutputInvalid,
      `the output's index.json does not name ${digest}, the digest buildx reported`,
      {
        hint: 'The output does not hold what the build produced; rerun the build.',
        details: { digest },
      },
    );
  }
  // The one graph walk: nested indexes and shared manifests as everywhere else.
  const graph = await walkGraph(layout, [{ descriptor: top }]);
  const manifests: ImageView['manifests'] = [];
  for (const node of manifestsBelow(graph, top.digest)) {
    if (node.contexts.every((c) => c.attestation)) continue;
    const manifest = await layout.readManifest(node.descriptor);
    manifests.push({
      descriptor: node.descriptor,
      platform: await manifestPlatform(layout, node.descriptor),
      annotations: manifest.annotations ?? {},
    });
  }
  if (!isIndexMediaType(top.mediaType)) return { top, manifests };
  const index = await layout.readIndex(top);
  return { top, index: { annotations: index.annotations ?? {} }, manifests };
}

/** Every requested annotation that the image `digest` of `layout` lacks. */
export async function missingAnnotations(
  layout: Layout,
  digest: string,
  requests: readonly AnnotationRequest[],
): Promise<MissingAnnotation[]> {
  const v = await view(layout, digest);
  const missing: MissingAnnotation[] = [];
  const check = (
    have: Record<string, string> | undefined,
    r: AnnotationRequest,
    target: AnnotationTarget,
    where: string,
    platform?: Platform,
  ): void => {
    const actual = have?.[r.key];
    if (actual === r.value) return;
    const m: MissingAnnotation = { target, key: r.key, value: r.value, where };
    if (platform !== undefined) m.platform = formatPlatform(platform);
    if (actual !== undefined) m.actual = actual;
    missing.push(m);
  };
  for (const r of requests) {
    for (const target of r.targets) {
      const selected = v.manifests.filter(
        (m) => r.platform === undefined || platformMatches(r.platform, m.platform),
      );
      if (target === 'index') {
        // Single-platform builds have no index: buildx puts nothing there (and warns).
        if (v.index !== undefined) check(v.index.annotations, r, target, v.top.digest);
      } else if (target === 'index-descriptor') {
        check(v.top.annotations, r, target, 'index.json');
      } else if (target === 'manifest') {
        for (const m of selected) check(m.annotations, r, target, m.descriptor.digest, m.platform);
      } else if (v.index !== undefined) {
        for (const m of selected)
          check(m.descriptor.annotations, r, target, v.top.digest, m.platform);
      }
    }
  }
  return missing;
}

function sha256(b: Uint8Array): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/**
 * Rewrite the output so it carries the missing `index`, `index-descriptor` and
 * `manifest-descriptor` annotations: a new index blob and a new index.json, written in the
 * layout directory (which must be ocikit's own, not yet published, output). Manifest-level
 * annotations cannot be added without changing the manifests' digests: they stay missing.
 * @returns the new digest of the image, and what could not be repaired.
 */
export async function repairAnnotations(
  layout: Layout,
  digest: string,
  missing: readonly MissingAnnotation[],
): Promise<{ digest: string; unrepaired: MissingAnnotation[] }> {
  const repairable = missing.filter((m) => m.target !== 'manifest');
  const unrepaired = missing.filter((m) => m.target === 'manifest');
  if (repairable.length === 0) return { digest, unrepaired };
  const top = layout.index.manifests.find((d) => d.digest === digest) as Descriptor;
  if (isDockerMediaType(top.mediaType)) {
    throw new OcikitError(
      ErrorCode.AnnotationsMissing,
      `the output is a Docker manifest list (${top.digest}), which cannot carry annotations`,
      {
        hint: 'Build with OCI media types (buildx --output type=oci,oci-mediatypes=true).',
      },
    );
  }
  let newTop: Descriptor = top;
  if (isIndexMediaType(top.mediaType)) {
    const raw = (await layout.readJsonBlob(top)).value as Record<string, unknown>;
    const annotations = { ...((raw['annotations'] as Record<string, string> | undefined) ?? {}) };
    for (const m of repairable.filter((x) => x.target === 'index')) annotations[m.key] = m.value;
    const manifests = (raw['manifests'] as Record<string, unknown>[]).map((d) => {
      const fixes = repairable.filter(
        (x) => x.target === 'manifest-descriptor' && x.where === top.digest,
      );
      if (isAttestation(d as unknown as Descriptor) || fixes.length === 0) return d;
      const platform = (d['platform'] as Platform | undefined) ?? undefined;
      const mine = fixes.filter(
        (x) =>
          x.platform === undefined ||
          (platform !== undefined && x.platform === formatPlatform(platform)),
      );
      if (mine.length === 0) return d;
      return {
        ...d,
        annotations: {
          ...((d['annotations'] as Record<string, string> | undefined) ?? {}),
          ...Object.fromEntries(mine.map((x) => [x.key, x.value])),
        },
      };
    });
    const bytes = Buffer.from(JSON.stringify({ ...raw, manifests, annotations }));
    const newDigest = sha256(bytes);
    await fsp.writeFile(path.join(layout.dir, blobRelPath(parseDigest(newDigest))), bytes);
    newTop = { ...top, digest: newDigest, size: bytes.length };
  }
  const descriptorFixes = Object.fromEntries(
    repairable.filter((x) => x.target === 'index-descriptor').map((x) => [x.key, x.value]),
  );
  const indexJsonPath = path.join(layout.dir, 'index.json');
  const indexJson = JSON.parse(await fsp.readFile(indexJsonPath, 'utf8')) as {
    manifests: Descriptor[];
  };
  indexJson.manifests = indexJson.manifests.map((d) => {
    if (d.digest !== digest) return d;
    const fixed: Descriptor = { ...d, digest: newTop.digest, size: newTop.size };
    if (Object.keys(descriptorFixes).length > 0)
      fixed.annotations = { ...(d.annotations ?? {}), ...descriptorFixes };
    return fixed;
  });
  const tmp = `${indexJsonPath}.ocikit-tmp`;
  await fsp.writeFile(tmp, JSON.stringify(indexJson));
  await fsp.rename(tmp, indexJsonPath);
  if (newTop.digest !== digest) {
    await fsp.rm(path.join(layout.dir, blobRelPath(parseDigest(digest))), { force: true });
  }
  return { digest: newTop.digest, unrepaired };
}
