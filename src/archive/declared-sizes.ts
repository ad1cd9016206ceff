/**
 * The sizes an archive's own descriptors declare for its blobs, learnt while the archive
 * streams, so that a blob larger than its descriptor is refused at its header (limits.ts).
 * Only descriptors reachable from index.json count, the ones the final completeness check walks:
 * index.json and every index list manifests, every manifest its config and layers. A blob's
 * content is learnt from once its digest is checked and a descriptor already read names it an
 * index or manifest, whichever of the two comes first in the archive.
 *
 * What is known when depends on the producer's order. ocikit pack, skopeo and buildx sort
 * entries by path, so every blob comes before index.json and nothing is declared while blobs
 * stream: those archives are bounded by `maxBytes` and checked by the final walk. Archives
 * written index.json first (`tar -cf x.tar oci-layout index.json blobs`) are checked blob by
 * blob, as far as the manifests came before the blobs they list.
 *
 * Lenient on purpose: what does not parse or has no descriptor shape is passed over here and
 * reported, with its own code, by the final check.
 */
import { isIndexMediaType, isManifestMediaType } from '../layout/media-types.js';

/** The smallest size declared for a digest, and by which document. */
export interface Declaration {
  size: number;
  mediaType: string;
  /** `index.json`, `index sha256:...` or `manifest sha256:...`. */
  by: string;
}

/** A document whose descriptors are to be learnt: index.json, an index or a manifest. */
export interface DocumentRef {
  digest: string;
  kind: 'index' | 'manifest';
}

function descriptorOf(v: unknown): { digest: string; size: number; mediaType: string } | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const { digest, size, mediaType } = v as Record<string, unknown>;
  if (typeof digest !== 'string' || typeof mediaType !== 'string') return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  return { digest, size, mediaType };
}

function kindOf(mediaType: string): DocumentRef['kind'] | undefined {
  if (isIndexMediaType(mediaType)) return 'index';
  if (isManifestMediaType(mediaType)) return 'manifest';
  return undefined;
}

/** Declarations collected from the documents read so far. */
export class DeclaredSizes {
  private readonly sizes = new Map<string, Declaration>();
  private readonly learnt = new Set<string>();

  /** The smallest size declared for `digest`, or undefined while none is. */
  get(digest: string): Declaration | undefined {
    return this.sizes.get(digest);
  }

  /** The document `digest` is declared to be (index or manifest), unless already learnt from. */
  pending(digest: string): DocumentRef | undefined {
    if (this.learnt.has(digest)) return undefined;
    const d = this.sizes.get(digest);
    const kind = d === undefined ? undefined : kindOf(d.mediaType);
    return kind === undefined ? undefined : { digest, kind };
  }

  /**
   * Learn the descriptors of a parsed document: index.json (`digest` undefined), or the blob
   * `digest` that {@link pending} named. Returns the documents newly declared, to be learnt
   * from in turn when their content is at hand.
   */
  learn(doc: unknown, ref: DocumentRef | undefined): DocumentRef[] {
    if (ref !== undefined) {
      if (this.learnt.has(ref.digest)) return [];
      this.learnt.add(ref.digest);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return [];
    const fields = doc as Record<string, unknown>;
    const by = ref === undefined ? 'index.json' : `${ref.kind} ${ref.digest}`;
    const children: unknown[] = [];
    if (ref === undefined || ref.kind === 'index') {
      if (Array.isArray(fields['manifests'])) children.push(...(fields['manifests'] as unknown[]));
    } else {
      children.push(fields['config']);
      if (Array.isArray(fields['layers'])) children.push(...(fields['layers'] as unknown[]));
    }
    const found: DocumentRef[] = [];
    for (const child of children) {
      const d = descriptorOf(child);
      if (d === undefined) continue;
      const known = this.sizes.get(d.digest);
      if (known === undefined || d.size < known.size) {
        this.sizes.set(d.digest, { size: d.size, mediaType: known?.mediaType ?? d.mediaType, by });
      }
      const next = known === undefined ? this.pending(d.digest) : undefined;
      if (next !== undefined) found.push(next);
    }
    return found;
  }
}
