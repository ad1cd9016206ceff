/**
 * Docker's `manifest.json` for an OCI archive: what `docker save` (since Docker 25) writes beside
 * `index.json`, so that `docker load` reads the archive on either image store. The containerd
 * image store reads `index.json` (names from `io.containerd.image.name`) and ignores this file;
 * the classic store (graph drivers: dockerd's default before 29) reads only this file, one image
 * (config and layers) per entry, named by `RepoTags`. Without it, the classic store's `docker
 * load` of an OCI archive fails with "open .../blobs/json: no such file or directory".
 *
 * The classic store holds one platform per name, so an entry is written for each `index.json`
 * entry that names one image: an image manifest, or an index whose only image is not an
 * attestation (buildx's single-platform output). A multi-platform index has no entry (`skipped`
 * says why); `docker load` on the classic store then loads nothing of it, and with no entry at
 * all the archive has no `manifest.json`.
 */
import { blobRelPath, parseDigest } from '../layout/digest.js';
import type { Layout } from '../layout/layout.js';
import {
  Annotation,
  isForeignLayerMediaType,
  isIndexMediaType,
  isManifestMediaType,
} from '../layout/media-types.js';
import { isAttestation } from '../layout/platform.js';
import type { Descriptor } from '../layout/schema.js';

/** One image of `manifest.json`. */
export interface DockerArchiveImage {
  /** The image manifest's digest. */
  manifest: string;
  /** Its config's digest: the image ID the classic store gives it. */
  config: string;
  /** The names of the `index.json` entries that name it (`io.containerd.image.name`). */
  repoTags: string[];
}

/** An `index.json` entry left out of `manifest.json`, and why. */
export interface DockerArchiveSkipped {
  digest: string;
  why: string;
}

/** What {@link dockerManifest} made. */
export interface DockerManifest {
  /** The bytes of `manifest.json`. */
  bytes: Buffer;
  images: DockerArchiveImage[];
  skipped: DockerArchiveSkipped[];
}

/** The one image manifest an `index.json` entry names, or why there is not one. */
async function oneImage(layout: Layout, entry: Descriptor): Promise<Descriptor | string> {
  if (isManifestMediaType(entry.mediaType)) return entry;
  if (!isIndexMediaType(entry.mediaType)) return `a ${entry.mediaType}, not an image`;
  const index = await layout.readIndex(entry);
  const images = index.manifests.filter((d) => !isAttestation(d));
  if (images.length !== 1)
    return `an index of ${images.length} images (the classic image store holds one platform per name: select one)`;
  const [image] = images as [Descriptor];
  if (!isManifestMediaType(image.mediaType)) return `its image is a ${image.mediaType}`;
  return image;
}

/**
 * `manifest.json` for the entries of `layout`'s index.json, in their order; entries naming the
 * same image share one `manifest.json` entry (their names together, as `docker save` writes).
 * @throws OcikitError the read errors of the indexes and manifests
 */
export async function dockerManifest(layout: Layout): Promise<DockerManifest> {
  const byManifest = new Map<string, { image: DockerArchiveImage; layers: string[] }>();
  const skipped: DockerArchiveSkipped[] = [];
  for (const entry of layout.index.manifests) {
    const image = await oneImage(layout, entry);
    if (typeof image === 'string') {
      skipped.push({ digest: entry.digest, why: image });
      continue;
    }
    const name = entry.annotations?.[Annotation.ContainerdImageName];
    let found = byManifest.get(image.digest);
    if (found === undefined) {
      const manifest = await layout.readManifest(image);
      const foreign = manifest.layers.find((l) => isForeignLayerMediaType(l.mediaType));
      if (foreign !== undefined) {
        skipped.push({
          digest: entry.digest,
          why: `layer ${foreign.digest} is non-distributable (docker load would need its URLs)`,
        });
        continue;
      }
      const blobPath = (d: Descriptor): string => blobRelPath(parseDigest(d.digest));
      found = {
        image: { manifest: image.digest, config: manifest.config.digest, repoTags: [] },
        layers: manifest.layers.map(blobPath),
      };
      byManifest.set(image.digest, found);
    }
    if (name !== undefined && !found.image.repoTags.includes(name)) found.image.repoTags.push(name);
  }
  const entries = [...byManifest.values()].map(({ image, layers }) => ({
    Config: blobRelPath(parseDigest(image.config)),
    RepoTags: image.repoTags,
    Layers: layers,
  }));
  return {
    bytes: Buffer.from(JSON.stringify(entries)),
    images: [...byManifest.values()].map((v) => v.image),
    skipped,
  };
}
