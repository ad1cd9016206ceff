/**
 * `oci-layout://` build-context references: parsing as buildx does (digest after the last
 * `@`, tag after the last `:`), and writing the one form every buildx version reads:
 * `oci-layout://<absolute path>:<tag>@sha256:<hex>`.
 */
import path from 'node:path';
import { parseDigest } from '../digest.js';
import { ErrorCode, OcikitError } from '../errors.js';

export const OCI_LAYOUT_SCHEME = 'oci-layout://';

/** A layout reference: a path with an optional tag and digest. */
export interface LayoutRef {
  path: string;
  tag?: string;
  digest?: string;
}

// Docker tag grammar.
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** True when `tag` is a valid Docker/OCI tag. */
export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/**
 * Split `PATH[:TAG][@DIGEST]` (the part after `oci-layout://`, or a plain layout path).
 * A `:` followed by something that is not a tag (e.g. a `/`) belongs to the path.
 * @throws OcikitError `OCIKIT_DIGEST_INVALID`, `OCIKIT_USAGE`
 */
export function parseLayoutRef(value: string, where = 'layout reference'): LayoutRef {
  let rest = value;
  const ref: Partial<LayoutRef> = {};
  const at = rest.lastIndexOf('@');
  if (at >= 0 && /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:/.test(rest.slice(at + 1))) {
    ref.digest = parseDigest(rest.slice(at + 1), `${where} digest`).value;
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  if (colon >= 0 && isValidTag(rest.slice(colon + 1)) && colon > 0) {
    ref.tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (rest === '') {
    throw new OcikitError(ErrorCode.Usage, `${where}: ${JSON.stringify(value)} has no path`, {
      hint: 'Write PATH[:TAG][@DIGEST], e.g. ./layout:latest.',
    });
  }
  return { ...ref, path: rest };
}

/** True when buildx versions before 0.32 would misparse this path. */
export function pathNeedsRemap(p: string): boolean {
  return p.includes(':') || p.includes('@');
}

/** `oci-layout://<abs path>:<tag>@<digest>`: the form that works on every buildx version. */
export function formatLayoutRef(absPath: string, tag: string, digest: string): string {
  if (!path.isAbsolute(absPath))
    throw new Error(`formatLayoutRef needs an absolute path, got ${absPath}`);
  return `${OCI_LAYOUT_SCHEME}${absPath}:${tag}@${digest}`;
}
