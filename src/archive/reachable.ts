/**
 * The blobs a set of descriptors reaches in a layout: indexes (nested too), manifests, their
 * configs and layers. What `pack` puts in an archive and what `index` links into a new layout.
 * Indexes and manifests are read and digest-checked on the way; every blob is located (a
 * regular file, or a symlink to the same blob, as in thin copies) and its size checked.
 */
import { parseDigest, type Digest } from '../layout/digest.js';
import { ErrorCode, isOcikitError } from '../errors.js';
import { walkGraph } from '../layout/graph.js';
import { sizeMismatch, type BlobFile, type Layout } from '../layout/layout.js';
import { isForeignLayerMediaType } from '../layout/media-types.js';
import type { Descriptor } from '../layout/schema.js';

/** One blob to carry over. */
export interface ReachableBlob {
  digest: Digest;
  descriptor: Descriptor;
  file: BlobFile;
}

/**
 * Walk from `roots` and return every reachable blob, keyed by digest (in no particular
 * order: siblings are located concurrently).
 * Foreign (non-distributable) layers that the layout lacks are left out, as registries serve
 * them from their `urls`.
 * @throws OcikitError `OCIKIT_BLOB_MISSING`, `OCIKIT_BLOB_SIZE_MISMATCH`, `OCIKIT_BLOB_DIGEST_MISMATCH`,
 *   `OCIKIT_BLOB_NOT_FILE`, `OCIKIT_BLOB_SYMLINK_ESCAPES`, `OCIKIT_NESTING_TOO_DEEP`, and the
 *   parse errors of the indexes and manifests on the way
 */
export async function reachableBlobs(
  layout: Layout,
  roots: readonly Descriptor[],
): Promise<Map<string, ReachableBlob>> {
  const graph = await walkGraph(
    layout,
    roots.map((descriptor) => ({ descriptor })),
  );
  const found = new Map<string, ReachableBlob>();
  await Promise.all(
    [...graph.nodes.values()].map(async (node) => {
      const desc = node.descriptor;
      const digest = parseDigest(desc.digest);
      let file: BlobFile;
      try {
        file = await layout.locateBlob(digest);
      } catch (e) {
        if (isOcikitError(e, ErrorCode.BlobMissing) && isForeignLayerMediaType(desc.mediaType))
          return;
        throw e;
      }
      for (const p of node.parents) {
        if (p.descriptor.size !== file.size)
          throw sizeMismatch(desc.digest, p.descriptor.size, file.size, file.relPath);
      }
      found.set(desc.digest, { digest, descriptor: desc, file });
    }),
  );
  return found;
}
