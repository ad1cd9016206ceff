/**
 * OCI content digests: parsing, validation and the blob path they map to.
 * A digest string is never used as a path before {@link parseDigest} accepted it.
 */
import { ErrorCode, OcikitError, quote } from '../errors.js';

/** A digest that passed the OCI grammar and the rules of its algorithm. */
export interface Digest {
  /** The full string, e.g. `sha256:2c26...`. */
  readonly value: string;
  /** `sha256`, `sha512`, ... */
  readonly algorithm: string;
  /** The encoded part after the colon. */
  readonly encoded: string;
}

/** Algorithms ocikit can hash, with the length of their lowercase hex encoding. */
export const HASH_ALGORITHMS: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };

// OCI image-spec descriptor.md: algorithm-component [+._-] separated, encoded [a-zA-Z0-9=_-]+.
const GRAMMAR = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
const MAX_DIGEST_LENGTH = 1024;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
/** `^[a-f0-9]{N}$` per registered algorithm, compiled once (digests are parsed per blob). */
const HEX: Readonly<Record<string, RegExp>> = Object.fromEntries(
  Object.entries(HASH_ALGORITHMS).map(([alg, n]) => [alg, new RegExp(`^[a-f0-9]{${n}}$`)]),
);

/** True when `algorithm` is one ocikit can compute (sha256, sha512). */
export function isHashable(algorithm: string): boolean {
  return Object.hasOwn(HASH_ALGORITHMS, algorithm);
}

/**
 * Parse and validate a digest string.
 * Registered algorithms (sha256, sha512) must have lowercase hex of the right length;
 * unregistered ones only need to follow the grammar.
 * @param where names the place the digest came from, for the error message (a function: built
 *   only for the error, as a manifest of 2,000 layers parses 4,000 digests).
 * @throws OcikitError `OCIKIT_DIGEST_INVALID`
 */
export function parseDigest(value: unknown, where: string | (() => string) = 'digest'): Digest {
  // The common case first: a digest is parsed several times per blob, and a 2,000-layer image
  // has 6,000 of them. One regular expression beats a loop over the characters both in a cold
  // process (the loop runs in the interpreter: 5 µs a digest) and once optimised (by a quarter).
  if (typeof value === 'string' && value.length === 71 && SHA256.test(value)) {
    return { value, algorithm: 'sha256', encoded: value.slice(7) };
  }
  const fail = (why: string): never => {
    throw new OcikitError(
      ErrorCode.DigestInvalid,
      `${typeof where === 'string' ? where : where()}: ${quote(value)} is not a valid digest: ${why}`,
      {
        hint: 'A digest looks like sha256:<64 lowercase hex characters>.',
        details: { digest: typeof value === 'string' ? value.slice(0, 200) : null },
      },
    );
  };
  if (typeof value !== 'string') return fail('not a string');
  if (value.length > MAX_DIGEST_LENGTH) return fail('too long');
  const m = GRAMMAR.exec(value);
  if (!m) return fail('it does not match algorithm:encoded');
  const algorithm = m[1] as string;
  const encoded = m[2] as string;
  // Own properties only: `constructor:...` is a valid unregistered algorithm, not Object's.
  if (isHashable(algorithm) && !(HEX[algorithm] as RegExp).test(encoded)) {
    return fail(`${algorithm} needs ${HASH_ALGORITHMS[algorithm]} lowercase hex characters`);
  }
  return { value, algorithm, encoded };
}

/**
 * The parts of a digest that was validated already: a descriptor's `digest` as the schema
 * parsed it (graph nodes, manifests' layers). No checks: anything else goes to
 * {@link parseDigest}. The base check splits 2,000 of them per image.
 */
export function splitDigest(value: string): Digest {
  const at = value.indexOf(':');
  return { value, algorithm: value.slice(0, at), encoded: value.slice(at + 1) };
}

/** The path of a blob relative to the layout root, with forward slashes. */
export function blobRelPath(digest: Digest): string {
  return `blobs/${digest.algorithm}/${digest.encoded}`;
}

/** The first 12 hex characters, as people and docker show digests. */
export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return i < 0 ? digest.slice(0, 12) : digest.slice(i + 1, i + 13);
}
