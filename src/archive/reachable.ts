/**
 * The blobs a set of descriptors reaches in a layout: indexes (nested too), manifests, their
 * configs and layers. What `pack` puts in an archive and what `index` links into a new layout.
 * Indexes and manifests are read and digest-checked on the way; every blob is located (a
 * regular file, or a symlink to the same blob, as in thin copies) and its size checked.
 */
import { parseDigest, type Digest } from '../digest.js';
import { ErrorCode, OcikitError, isOcikitError } from '../errors.js';
import { sizeMismatch, type BlobFile, type Layout } from '../layout.js';
import { isForeignLayerMediaType, isIndexMediaType, isManifestMediaType } from '../media-types.js';
import { MAX_INDEX_DEPTH } from '../resolve.js';
import type { Descriptor } from '../schema.js';

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
  const found = new Map<string, ReachableBlob>();
  const visit = async (desc: Descriptor, depth: number): Promise<void> => {
    if (found.has(desc.digest)) {
      const seen = found.get(desc.digest) as ReachableBlob;
      if (seen.descriptor.size !== desc.size)
        throw sizeMismatch(desc.digest, desc.size, seen.file.size, seen.file.relPath);
      return;
    }
    if (depth > MAX_INDEX_DEPTH + 2) {
      throw new OcikitError(
        ErrorCode.NestingTooDeep,
        `index ${desc.digest}: indexes nest more than ${MAX_INDEX_DEPTH} deep`,
        {
          hint: 'Flatten the index.',
          details: { digest: desc.digest },
        },
      );
    }
    const digest = parseDigest(desc.digest);
    let file: BlobFile;
    try {
      file = await layout.locateBlob(digest);
    } catch (e) {
      if (isOcikitError(e, ErrorCode.BlobMissing) && isForeignLayerMediaType(desc.mediaType))
        return;
      throw e;
    }
    if (file.size !== desc.size)
      throw sizeMismatch(desc.digest, desc.size, file.size, file.relPath);
    found.set(desc.digest, { digest, descriptor: desc, file });
    if (isIndexMediaType(desc.mediaType)) {
      await Promise.all(
        (await layout.readIndex(desc)).manifests.map((child) => visit(child, depth + 1)),
      );
    } else if (isManifestMediaType(desc.mediaType)) {
      const manifest = await layout.readManifest(desc);
      await Promise.all([manifest.config, ...manifest.layers].map((d) => visit(d, depth + 1)));
    }
  };
  await Promise.all(roots.map((root) => visit(root, 0)));
  return found;
}
