/** Media types ocikit reads, OCI and Docker, and how each is treated. */

export const MediaType = {
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayout: 'application/vnd.oci.layout.header.v1+json',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** What a descriptor points at, judged from its media type. */
export type ContentKind = 'index' | 'manifest' | 'config' | 'layer' | 'blob';

/** True for OCI image indexes and Docker manifest lists. */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}

/** True for OCI image manifests and Docker v2 schema 2 manifests. */
export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest;
}

/** True for image configuration media types (OCI and Docker). */
export function isImageConfigMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciConfig || mediaType === MediaType.DockerConfig;
}

/** True for Docker schema 1 manifests, which ocikit does not read. */
export function isLegacyManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaType.DockerManifestV1 || mediaType === MediaType.DockerManifestV1Signed;
}

/** True for Docker media types (which cannot carry OCI annotations). */
export function isDockerMediaType(mediaType: string): boolean {
  return mediaType.startsWith('application/vnd.docker.');
}

/**
 * Layers that registries may serve from elsewhere (`urls`): a layout may legally lack them.
 * Covers Docker foreign layers and OCI non-distributable layers.
 */
export function isForeignLayerMediaType(mediaType: string): boolean {
  return (
    mediaType === MediaType.DockerForeignLayer ||
    mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.')
  );
}

/** The kind of content a media type names, for a descriptor found in a manifest's `layers`, etc. */
export function kindOfMediaType(mediaType: string): ContentKind {
  if (isIndexMediaType(mediaType)) return 'index';
  if (isManifestMediaType(mediaType)) return 'manifest';
  if (isImageConfigMediaType(mediaType)) return 'config';
  return 'blob';
}

/** The largest JSON document ocikit reads (index.json, manifests, indexes, configs): 16 MiB. */
export const MAX_JSON_BYTES = 16 * 1024 * 1024;

/** Annotation keys with a meaning for tag resolution and attestations. */
export const Annotation = {
  RefName: 'org.opencontainers.image.ref.name',
  ContainerdImageName: 'io.containerd.image.name',
  /** Set by ocikit on a thin copy's index.json entry: the tag as given, when buildx needed another name. */
  OcikitSourceRefName: 'io.ocikit.source-ref-name',
  DockerReferenceType: 'vnd.docker.reference.type',
  DockerReferenceDigest: 'vnd.docker.reference.digest',
} as const;
