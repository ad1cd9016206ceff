/**
 * A summary of what a layout holds: tags, manifests, platforms, layer counts and sizes,
 * annotations. Reads metadata only (no layer bytes), through the one graph walk: an image
 * shared by several indexes is listed once per image, and the output grows with distinct blobs.
 */
import { manifestsBelow, walkGraph, type GraphNode } from './graph.js';
import type { Layout } from './layout.js';
import {
  Annotation,
  isImageConfigMediaType,
  isIndexMediaType,
  isManifestMediaType,
} from './media-types.js';
import { formatPlatform, isAttestation } from './platform.js';
import type { Platform } from './schema.js';
import { imagePlatform } from './resolve.js';

/** One image manifest in the summary. */
export interface ManifestSummary {
  digest: string;
  mediaType: string;
  size: number;
  /**
   * `os/arch[/variant]`; `unknown/unknown` for attestations and for manifests without a
   * platform (artifacts; configs with an empty architecture or os).
   */
  platform: string;
  attestation: boolean;
  /**
   * What an artifact is: the manifest's `artifactType`, else the media type of a config that
   * is not an image configuration (the OCI image spec's rule). Absent for images.
   */
  artifactType?: string;
  layers: number;
  /** Sum of the layer sizes, in bytes (compressed, as stored). */
  layerBytes: number;
  config: string;
  annotations: Record<string, string>;
}

/** One entry of index.json. */
export interface ImageSummary {
  /** Tags this entry answers to (io.containerd.image.name, org.opencontainers.image.ref.name). */
  tags: string[];
  digest: string;
  mediaType: string;
  size: number;
  kind: 'index' | 'manifest' | 'other';
  /** Annotations of the index.json entry (the descriptor). */
  annotations: Record<string, string>;
  /** Annotations inside the index or manifest itself. */
  contentAnnotations: Record<string, string>;
  /** The image manifests: the entry itself, or those of the index (nested indexes flattened). */
  manifests: ManifestSummary[];
}

/** The result of {@link inspectLayout}. */
export interface LayoutSummary {
  imageLayoutVersion: string;
  /** The annotations of index.json itself (not of its entries). */
  annotations: Record<string, string>;
  images: ImageSummary[];
  warnings: { code: string; message: string }[];
}

function formatPlatformOrUnknown(p: Platform | undefined): string {
  return p !== undefined ? formatPlatform(p) : 'unknown/unknown';
}

async function summarizeManifest(
  layout: Layout,
  node: GraphNode,
  rootTag: string | undefined,
): Promise<ManifestSummary> {
  const d = node.descriptor;
  const manifest = await layout.readManifest(d);
  const attestation = isAttestation(d) || node.contexts.every((c) => c.attestation);
  const context =
    node.contexts.find((c) => c.tag === rootTag && c.platform !== undefined) ??
    node.contexts.find((c) => c.platform !== undefined);
  const platform = attestation
    ? 'unknown/unknown'
    : (context?.platform ?? formatPlatformOrUnknown(await imagePlatform(layout, d)));
  const artifactType =
    manifest.artifactType ??
    (isImageConfigMediaType(manifest.config.mediaType) ? undefined : manifest.config.mediaType);
  return {
    digest: d.digest,
    mediaType: d.mediaType,
    size: d.size,
    platform,
    attestation,
    ...(artifactType !== undefined ? { artifactType } : {}),
    layers: manifest.layers.length,
    layerBytes: manifest.layers.reduce((n, l) => n + l.size, 0),
    config: manifest.config.digest,
    annotations: { ...(manifest.annotations ?? {}), ...(d.annotations ?? {}) },
  };
}

/** Summarise a layout. Throws the layout's coded errors when metadata is broken. */
export async function inspectLayout(layout: Layout): Promise<LayoutSummary> {
  const graph = await walkGraph(
    layout,
    layout.index.manifests.map((d) => {
      const tag =
        d.annotations?.[Annotation.ContainerdImageName] ?? d.annotations?.[Annotation.RefName];
      return tag !== undefined ? { descriptor: d, tag } : { descriptor: d };
    }),
  );
  const images: ImageSummary[] = [];
  for (const d of layout.index.manifests) {
    const tags = [Annotation.ContainerdImageName, Annotation.RefName]
      .map((k) => d.annotations?.[k])
      .filter((t): t is string => t !== undefined);
    const kind = isIndexMediaType(d.mediaType)
      ? 'index'
      : isManifestMediaType(d.mediaType)
        ? 'manifest'
        : 'other';
    let contentAnnotations: Record<string, string> = {};
    if (kind === 'index')
      contentAnnotations = { ...((await layout.readIndex(d)).annotations ?? {}) };
    if (kind === 'manifest')
      contentAnnotations = { ...((await layout.readManifest(d)).annotations ?? {}) };
    images.push({
      tags: [...new Set(tags)],
      digest: d.digest,
      mediaType: d.mediaType,
      size: d.size,
      kind,
      annotations: { ...(d.annotations ?? {}) },
      contentAnnotations,
      manifests: await Promise.all(
        manifestsBelow(graph, d.digest).map((m) => summarizeManifest(layout, m, tags[0])),
      ),
    });
  }
  return {
    imageLayoutVersion: layout.ociLayout.imageLayoutVersion,
    annotations: { ...(layout.index.annotations ?? {}) },
    images,
    warnings: [...layout.warnings],
  };
}
