/**
 * Taking blobs from input layouts into an output directory, honestly.
 *
 * - By default each blob is copied with `copyFile(COPYFILE_FICLONE)`: a reflink where the file
 *   system can clone (btrfs, XFS, APFS, ...), else a plain copy (the kernel's copy_file_range
 *   or sendfile). The inputs are only read: no link count, ctime or byte of theirs changes.
 * - `link: 'hard'` hardlinks instead: the output shares the inputs' inodes, so their link
 *   count and ctime change (a write to the inputs' inode metadata), and a later write to
 *   either side is seen by both. Where a hardlink is impossible (another file system,
 *   protected_hardlinks, too many links) the blob is copied.
 * - Every blob taken is then hashed where the output holds it (the copy, or the shared inode),
 *   so a corrupt input blob (right size, wrong bytes) is never carried into an output unseen;
 *   `trustInputs` checks sizes only. Hashing reuses hash.ts (worker threads, 1 MiB reads).
 *   Hashing the copy afterwards was measured against hashing while copying (read, hash and
 *   write in one pass on worker threads, archive/blob-copy.ts; bench/README.md): the same
 *   wall time and CPU for 1 GiB on ext4, and only the copy can be a reflink. Verification
 *   costs ~+25 % over the copies alone there (the copies are hashed from the page cache).
 * - Copies run a few at a time ({@link settledPool}): after the first failure no new copy
 *   starts and the ones in flight finish before the caller removes anything, so cleanup never
 *   races a copy and the first failure is the one reported. errno failures become coded errors
 *   by cause ({@link fsError}): reading a source blob is the input side, writing the copy the
 *   output side.
 */
import { createReadStream, constants as fsc, promises as fsp } from 'node:fs';
import type { Digest } from '../layout/digest.js';
import { ErrorCode, OcikitError, errnoCode, fsError } from '../errors.js';
import { hashFiles, type HashJob, type HashResult } from '../layout/hash.js';
import { settledPool } from './pool.js';

/** How the output takes a blob: `copy` (reflink where possible, the default) or `hard` (hardlink). */
export type LinkMode = 'copy' | 'hard';

/** The values of {@link LinkMode}. */
export const LINK_MODES: readonly LinkMode[] = ['copy', 'hard'];

/** How one blob was taken: copied (reflinked where the file system could) or hardlinked. */
export type Taken = 'copied' | 'linked';

/** One blob to take. */
export interface BlobToTake {
  digest: Digest;
  /** The size its descriptor gives. */
  size: number;
  /** The blob's file in the input (a symlink to it is followed, as in thin copies). */
  from: string;
  /** Where the output holds it: must not exist yet; its directory must. */
  to: string;
  /** The input as the user named it (`LAYOUT[:TAG|@DIGEST]`), for messages. */
  source: string;
  /** The blob's path inside its layout (`blobs/sha256/...`), for messages. */
  relPath: string;
  /** The manifest that references it; absent when the blob is itself a manifest of the output's index. */
  manifest?: string;
}

/** Options of {@link takeBlobs}. */
export interface TakeOptions {
  /** Default `copy`. */
  link?: LinkMode;
  /** Check sizes only, not digests. Default false. */
  trustInputs?: boolean;
  /** Blobs placed at the same time. Default 8 (libuv runs 4 file operations at once). */
  concurrency?: number;
}

const CONCURRENCY = 8;
const TOO_MANY = new Set(['EMFILE', 'ENFILE']);

/** Read the source again to tell whether it, rather than the copy, failed: undefined if it reads. */
async function sourceFailure(from: string, wholeFile: boolean): Promise<unknown> {
  try {
    if (wholeFile) {
      for await (const chunk of createReadStream(from, { highWaterMark: 1024 * 1024 })) void chunk;
    } else {
      await (await fsp.open(from, 'r')).close();
    }
    return undefined;
  } catch (e) {
    return e;
  }
}

async function copy(b: BlobToTake): Promise<void> {
  try {
    await fsp.copyFile(b.from, b.to, fsc.COPYFILE_FICLONE | fsc.COPYFILE_EXCL);
  } catch (e) {
    const errno = errnoCode(e);
    if (errno === undefined) throw e;
    const what = `copy blob ${b.digest.value} of ${b.source}`;
    // copyFile names both paths but not which one failed. Out of space, or of descriptors, is
    // the same answer either way; otherwise reading the source again tells (EIO: all of it).
    if (['ENOSPC', 'EDQUOT'].includes(errno))
      throw fsError(e, { path: b.to, side: 'output', what });
    if (TOO_MANY.has(errno)) throw fsError(e, { path: b.from, side: 'input', what });
    const source = await sourceFailure(b.from, errno === 'EIO');
    throw source !== undefined
      ? fsError(source, { path: b.from, side: 'input', what })
      : fsError(e, { path: b.to, side: 'output', what });
  }
}

async function hardlink(b: BlobToTake): Promise<Taken> {
  let real: string;
  try {
    // link(2) does not follow a symlinked blob (thin copies): link what it points to.
    real = await fsp.realpath(b.from);
  } catch (e) {
    throw fsError(e, { path: b.from, side: 'input', what: `resolve blob ${b.digest.value}` });
  }
  try {
    await fsp.link(real, b.to);
    return 'linked';
  } catch (e) {
    const errno = errnoCode(e);
    if (errno === undefined) throw e;
    if (['EEXIST', 'ENOSPC', 'EDQUOT'].includes(errno))
      throw fsError(e, { path: b.to, side: 'output', what: `link blob ${b.digest.value}` });
    // EXDEV (another file system), EPERM (protected_hardlinks, no link support), EMLINK, ...
    await copy(b);
    return 'copied';
  }
}

function sizeChanged(b: BlobToTake, actual: number): OcikitError {
  return new OcikitError(
    ErrorCode.BlobSizeMismatch,
    `blob ${b.digest.value} of ${b.source} is ${actual} bytes in the output, the descriptor says ${b.size}`,
    {
      hint: 'The input changed while ocikit read it: rerun when nothing writes to it; nothing was kept.',
      details: {
        digest: b.digest.value,
        source: b.source,
        path: b.relPath,
        expectedSize: b.size,
        actualSize: actual,
      },
    },
  );
}

function digestMismatch(b: BlobToTake, actual: string): OcikitError {
  const where =
    b.manifest !== undefined ? `referenced by manifest ${b.manifest}` : 'listed in the new index';
  return new OcikitError(
    ErrorCode.BlobDigestMismatch,
    `blob ${b.digest.value} of ${b.source} (${where}) does not match its digest: the output's copy hashes to ${actual}`,
    {
      hint: `The input's ${b.relPath} is corrupt: check it with ocikit verify, then fetch or build that image again; nothing was kept.`,
      details: {
        digest: b.digest.value,
        actual,
        source: b.source,
        manifest: b.manifest ?? null,
        path: b.relPath,
      },
    },
  );
}

/**
 * Take `blobs` into the output (see the module comment); results in the order of `blobs`.
 * On failure, every operation started has settled before this rejects; what was already placed
 * stays for the caller to remove.
 * @throws OcikitError `OCIKIT_BLOB_DIGEST_MISMATCH` (the output's bytes do not hash to the
 *   digest), `OCIKIT_BLOB_SIZE_MISMATCH`, and by cause `OCIKIT_NO_SPACE`,
 *   `OCIKIT_TOO_MANY_OPEN_FILES`, `OCIKIT_IO_ERROR`, `OCIKIT_INPUT_UNREADABLE`,
 *   `OCIKIT_OUT_UNWRITABLE`, `OCIKIT_OUT_INVALID`
 */
export async function takeBlobs(
  blobs: readonly BlobToTake[],
  options: TakeOptions = {},
): Promise<Taken[]> {
  const taken = new Array<Taken>(blobs.length);
  const trust = options.trustInputs === true;
  await settledPool(blobs, options.concurrency ?? CONCURRENCY, async (b, i) => {
    if (options.link === 'hard') taken[i] = await hardlink(b);
    else {
      await copy(b);
      taken[i] = 'copied';
    }
    if (trust) {
      let size: number;
      try {
        size = (await fsp.stat(b.to)).size;
      } catch (e) {
        throw fsError(e, { path: b.to, side: 'output', what: `check blob ${b.digest.value}` });
      }
      if (size !== b.size) throw sizeChanged(b, size);
    }
  });
  if (trust || blobs.length === 0) return taken;

  const jobs = blobs.map((b) => ({ path: b.to, algorithm: b.digest.algorithm, size: b.size }));
  let results;
  try {
    results = await hashFiles(jobs);
  } catch (e) {
    // A hashing thread that could not start ("Worker initialization failure: EMFILE"): the
    // process is short of descriptors, so hash on this thread instead, one file at a time.
    if (!/\b(EMFILE|ENFILE)\b/.test(e instanceof Error ? e.message : '')) throw e;
    results = await hashFiles(jobs, { workers: 0 });
  }
  // Files the threads could not open for want of descriptors: once more on this thread.
  const starved = results.flatMap((r, i) => ('error' in r && TOO_MANY.has(r.error) ? [i] : []));
  if (starved.length > 0) {
    const again = await hashFiles(
      starved.map((i) => jobs[i] as HashJob),
      { workers: 0 },
    );
    starved.forEach((i, k) => (results[i] = again[k] as HashResult));
  }
  blobs.forEach((b, i) => {
    const r = results[i];
    if (r === undefined || 'error' in r) {
      const code = r?.error ?? 'EIO';
      throw fsError(Object.assign(new Error(code), { code }), {
        path: b.to,
        side: 'output',
        what: `read back blob ${b.digest.value} to verify it`,
      });
    }
    if (r.bytes !== b.size) throw sizeChanged(b, r.bytes);
    const actual = `${b.digest.algorithm}:${r.hex}`;
    if (actual !== b.digest.value) throw digestMismatch(b, actual);
  });
  return taken;
}
