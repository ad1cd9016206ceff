/**
 * `oci-layout://` build-context references: parsing as buildx does (digest after the last
 * `@`, tag after the last `:`), and writing the one form every buildx version reads:
 * `oci-layout://<absolute path>:<tag>@sha256:<hex>`.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parseDigest } from './digest.js';
import { ErrorCode, OcikitError, errnoCode, quote } from '../errors.js';

export const OCI_LAYOUT_SCHEME = 'oci-layout://';

/** A layout reference: a path with an optional tag and digest. */
export interface LayoutRef {
  path: string;
  tag?: string;
  digest?: string;
}

// Docker tag grammar: what buildx and BuildKit parse after the ':' of a reference.
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
// A tag as layouts name images: the OCI ref.name grammar (alphanumerics joined by . _ - : / +,
// so full references with registry ports pass) with Docker's leading '_', without '@'.
// rules/private/common.bzl is_tag() implements the same rule in Starlark.
const REF_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:/+-]*$/;
/** Longest tag accepted (full names with registry and path included). */
export const MAX_TAG_LENGTH = 1024;
// The OCI digest grammar, loosely (validated strictly when chosen).
const DIGEST_LIKE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** True when `tag` is a Docker tag, the only kind buildx can put in an oci-layout reference. */
export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/**
 * Check a tag as layout producers write it into `org.opencontainers.image.ref.name` or
 * `io.containerd.image.name`: a Docker tag (`v1`), a name (`app:v1`), a full reference
 * (`docker.io/example/app:v1`, `localhost:5000/team/app:v1`): the OCI ref.name grammar
 * (letters, digits, `. _ - : / +`, starting with a letter, digit or `_`), at most
 * {@link MAX_TAG_LENGTH} characters, no `@digest`.
 * @throws OcikitError `OCIKIT_USAGE`
 */
export function checkTag(tag: string, where = 'tag'): string {
  const hint =
    'Write a tag as the layout names it (see ocikit inspect), e.g. v1 or docker.io/example/app:v1.';
  if (tag === '') throw new OcikitError(ErrorCode.Usage, `${where}: the tag is empty`, { hint });
  if (tag.includes('@')) {
    throw new OcikitError(
      ErrorCode.Usage,
      `${where}: ${quote(tag)} names a digest inside the tag`,
      { hint: 'Give the digest on its own: LAYOUT:TAG@sha256:... or --digest.' },
    );
  }
  if (tag.length > MAX_TAG_LENGTH || !REF_NAME.test(tag)) {
    throw new OcikitError(
      ErrorCode.Usage,
      `${where}: ${quote(tag)} is not a tag (${tag.length > MAX_TAG_LENGTH ? `longer than ${MAX_TAG_LENGTH} characters` : 'letters, digits and . _ - : / + only, starting with a letter, digit or _'})`,
      { hint },
    );
  }
  return tag;
}

/**
 * Every way to read `PATH[:TAG][@DIGEST]`: the path may itself hold `:` and `@` (a directory
 * `lay:out`), and a tag may hold `:` (`localhost:5000/app:v1`), so the text alone cannot tell.
 * Returned longest path first; digests are checked only loosely here (see {@link resolveLayoutRef}).
 */
export function refCandidates(value: string): LayoutRef[] {
  const out: LayoutRef[] = [];
  const splits: { rest: string; digest?: string }[] = [{ rest: value }];
  const at = value.lastIndexOf('@');
  if (at > 0 && DIGEST_LIKE.test(value.slice(at + 1)))
    splits.push({ rest: value.slice(0, at), digest: value.slice(at + 1) });
  for (const { rest, digest } of splits) {
    const d = digest !== undefined ? { digest } : {};
    out.push({ path: rest, ...d });
    for (let i = rest.indexOf(':'); i >= 0; i = rest.indexOf(':', i + 1)) {
      const tag = rest.slice(i + 1);
      if (i === 0 || tag.length > MAX_TAG_LENGTH || !REF_NAME.test(tag)) continue;
      out.push({ path: rest.slice(0, i), tag, ...d });
    }
  }
  return out.sort((a, b) => b.path.length - a.path.length);
}

/** What a candidate path is on disk. */
export type RefTarget = 'layout' | 'archive' | 'directory' | 'unreadable' | 'missing';

/** Classify a path: a layout directory (holds `oci-layout`), a regular file, another directory. */
export async function refTarget(abs: string): Promise<RefTarget> {
  let st;
  try {
    st = await fsp.stat(abs);
  } catch (e) {
    const code = errnoCode(e);
    return code === 'EACCES' || code === 'EPERM' ? 'unreadable' : 'missing';
  }
  if (st.isFile()) return 'archive';
  if (!st.isDirectory()) return 'missing';
  try {
    await fsp.lstat(path.join(abs, 'oci-layout'));
    return 'layout';
  } catch (e) {
    const code = errnoCode(e);
    return code === 'EACCES' || code === 'EPERM' ? 'unreadable' : 'directory';
  }
}

/** The result of {@link resolveLayoutRef}. */
export interface ResolvedRef {
  ref: LayoutRef;
  target: RefTarget;
  /** Every reading tried, with what its path is on disk. */
  tried: { ref: LayoutRef; target: RefTarget }[];
}

/**
 * Split `PATH[:TAG][@DIGEST]` where the path names something that exists: the one reading
 * whose path is a layout directory or an archive file; failing that, the one whose path is an
 * unreadable or plain directory (for the error that follows to name it). Undefined when no
 * reading names anything.
 * @throws OcikitError `OCIKIT_REF_AMBIGUOUS` (two readings name layouts), `OCIKIT_USAGE` (bad tag),
 *   `OCIKIT_DIGEST_INVALID`
 */
export async function resolveLayoutRef(
  value: string,
  cwd: string,
  where = 'layout reference',
): Promise<ResolvedRef | undefined> {
  if (value === '') {
    throw new OcikitError(ErrorCode.Usage, `${where}: the layout reference is empty`, {
      hint: 'Write PATH[:TAG][@DIGEST], e.g. ./layout:latest.',
    });
  }
  const tried: ResolvedRef['tried'] = [];
  for (const ref of refCandidates(value))
    tried.push({ ref, target: await refTarget(path.resolve(cwd, ref.path)) });
  for (const kinds of [['layout', 'archive'], ['unreadable'], ['directory']]) {
    const hits = tried.filter((c) => kinds.includes(c.target));
    if (hits.length > 1 && kinds[0] === 'layout') {
      throw new OcikitError(
        ErrorCode.RefAmbiguous,
        `${where}: ${quote(value)} can be read ${hits.length} ways: ${hits.map((h) => formatRefReading(h.ref)).join('; ')}`,
        {
          hint: 'Rename one of them, or write the layout as oci-layout://ABSOLUTE-PATH with the tag given separately.',
          details: { candidates: hits.map((h) => h.ref) },
        },
      );
    }
    const [hit] = hits;
    if (hit !== undefined && hits.length === 1) {
      const ref: LayoutRef = { path: hit.ref.path };
      if (hit.ref.tag !== undefined) ref.tag = checkTag(hit.ref.tag, `${where} tag`);
      if (hit.ref.digest !== undefined)
        ref.digest = parseDigest(hit.ref.digest, `${where} digest`).value;
      return { ref, target: hit.target, tried };
    }
  }
  return undefined;
}

/** "path ./a, tag v1, digest sha256:…" for messages. */
export function formatRefReading(ref: LayoutRef): string {
  return [
    `path ${quote(ref.path)}`,
    ...(ref.tag !== undefined ? [`tag ${quote(ref.tag)}`] : []),
    ...(ref.digest !== undefined ? [`digest ${quote(ref.digest)}`] : []),
  ].join(', ');
}

/** OCIKIT_LAYOUT_NOT_FOUND listing the readings of `value` that were tried. */
export function refNotFound(value: string, where: string): OcikitError {
  const tried = refCandidates(value).map((r) => quote(r.path));
  return new OcikitError(
    ErrorCode.LayoutNotFound,
    `${where}: no layout directory or archive at ${[...new Set(tried)].join(', ')}`,
    {
      hint: 'Pass the directory that holds oci-layout and index.json (or an OCI archive), then :TAG or @DIGEST.',
      details: { value, tried },
    },
  );
}

/**
 * Split `PATH[:TAG][@DIGEST]` by the text alone (digest after the last `@`, tag after the
 * last `:` when it is a Docker tag). For paths that need not exist; commands that read a
 * layout use {@link resolveLayoutRef}, which asks the file system.
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
    throw new OcikitError(ErrorCode.Usage, `${where}: ${quote(value)} has no path`, {
      hint: 'Write PATH[:TAG][@DIGEST], e.g. ./layout:latest.',
    });
  }
  return { ...ref, path: rest };
}

/**
 * A Docker tag standing for `tag` in a thin copy when `tag` itself is not one (buildx parses
 * only Docker tags in oci-layout references): the part after the last `:` of a full name
 * when that is a Docker tag (`docker.io/example/app:v1` → `v1`), else the tag with every other
 * character replaced by `-`, else `latest`.
 */
export function buildxSafeTag(tag: string): string {
  if (isValidTag(tag)) return tag;
  const last = tag.slice(tag.lastIndexOf(':') + 1);
  if (tag.includes(':') && isValidTag(last)) return last;
  const cleaned = tag
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
  return isValidTag(cleaned) ? cleaned : 'latest';
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
