/**
 * The buildx compatibility model: which writes each buildx version performs on an
 * `oci-layout://` build context, from buildx/BuildKit/containerd sources and runs recorded in
 * shared/notes/buildx.md. One table; everything else asks it. An unknown version gets the
 * safe answer (every write assumed).
 */
import { ErrorCode, OcikitError } from '../errors.js';

/** A parsed buildx version. */
export interface BuildxVersion {
  major: number;
  minor: number;
  patch: number;
  /** The text it was parsed from, e.g. `0.13.1+ds1-3`. */
  raw: string;
}

/** What a buildx version does to a layout it reads as a build context. */
export interface BuildxBehaviour {
  /** A tag ref (no digest) takes a lock: creates `index.json.lock` in the layout. All versions. */
  locksOnTagRef: boolean;
  /** The lock error is ignored on EROFS/EPERM only (>= 0.18); EACCES (non-root, 0555) still fails. */
  toleratesReadOnlyLock: boolean;
  /** May create `ingest/` when it opens the content store (< 0.19 with containerd < 1.7.24). */
  mayCreateIngest: boolean;
  /** Probes fs-verity by creating a `.fsverity-check-*` directory in a writable layout (>= 0.20). */
  probesFsVerity: boolean;
  /** Digest-only refs are broken (0.33.x): a tag must be carried along. */
  digestOnlyRefBroken: boolean;
  /** A missing layout directory is silently created (0.36). */
  createsMissingLayout: boolean;
  /** The ref parser cuts at the first `:`/`@` (< 0.32): paths must contain neither. */
  cutsAtFirstSeparator: boolean;
  /** A `Dockerfile.rego` policy next to the Dockerfile may reject oci-layout sources (>= 0.31). */
  appliesRegoPolicy: boolean;
}

const VERSION = /(?:^|\s|v)(\d+)\.(\d+)\.(\d+)([^\s]*)/;

/**
 * Parse a buildx version from `docker buildx version` output or a bare version. Accepts
 * `github.com/docker/buildx v0.19.3 48d6a39`, Debian's `github.com/docker/buildx 0.29.1+ds1
 * 0.29.1+ds1-4`, and `0.13.1+ds1-3`.
 * @throws OcikitError `OCIKIT_USAGE` when no version can be found
 */
export function parseBuildxVersion(text: string): BuildxVersion {
  const m = VERSION.exec(text.trim());
  if (!m) {
    throw new OcikitError(
      ErrorCode.Usage,
      `cannot read a buildx version from ${JSON.stringify(text.slice(0, 200))}`,
      {
        hint: 'Pass --buildx-version as MAJOR.MINOR.PATCH, e.g. 0.29.1.',
      },
    );
  }
  const [, major, minor, patch, rest] = m;
  return {
    major: Number(major),
    minor: Number(minor),
    patch: Number(patch),
    raw: `${major}.${minor}.${patch}${rest ?? ''}`,
  };
}

function atLeast(v: BuildxVersion, minor: number): boolean {
  return v.major > 0 || v.minor >= minor;
}

/** The behaviour of a version; `undefined` (unknown) assumes every write. */
export function buildxBehaviour(v: BuildxVersion | undefined): BuildxBehaviour {
  if (v === undefined) {
    return {
      locksOnTagRef: true,
      toleratesReadOnlyLock: false,
      mayCreateIngest: true,
      probesFsVerity: true,
      digestOnlyRefBroken: true,
      createsMissingLayout: true,
      cutsAtFirstSeparator: true,
      appliesRegoPolicy: true,
    };
  }
  return {
    locksOnTagRef: true,
    toleratesReadOnlyLock: atLeast(v, 18),
    mayCreateIngest: !atLeast(v, 19),
    probesFsVerity: atLeast(v, 20),
    digestOnlyRefBroken: v.major === 0 && v.minor === 33,
    createsMissingLayout: atLeast(v, 36),
    cutsAtFirstSeparator: !atLeast(v, 32),
    appliesRegoPolicy: atLeast(v, 31),
  };
}

/** `0.29.1` or `unknown`. */
export function formatBuildxVersion(v: BuildxVersion | undefined): string {
  return v === undefined ? 'unknown' : `${v.major}.${v.minor}.${v.patch}`;
}
