/**
 * Tar-format layouts as build contexts (buildx issue 1553: buildx reads `oci-layout://` from
 * directories only): `NAME=FILE.tar[:TAG]` is unpacked, safely and verified, into a private
 * directory that buildx may write into, with `ingest/` made up front.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { archiveLimits } from './limits.js';
// unpack.ts (zlib, streams, worker threads) loads when an archive is unpacked: a layout
// directory, the common context, never needs it.
import type { ExtractResult, UnpackOptions } from './unpack.js';

/** Names that mark a file as an OCI archive where a context value could also be something else. */
const ARCHIVE_NAME = /\.(tar|tar\.gz|tgz)$/i;

/** True when `p` is a regular file (following symlinks): an archive, where a layout directory was expected. */
export async function isRegularFile(p: string): Promise<boolean> {
  return fsp.stat(p).then(
    (st) => st.isFile(),
    () => false,
  );
}

/** True when `p` is a regular file named `*.tar`, `*.tar.gz` or `*.tgz`. */
export async function isArchiveFile(p: string): Promise<boolean> {
  return ARCHIVE_NAME.test(p) && (await isRegularFile(p));
}

/**
 * Unpack the archive `file` into the new directory `dir` (its parent must exist and be
 * private to the caller) and add an empty `ingest/`. The size limits of `unpack` apply
 * (`options.maxBytes`, default 64 GiB; see limits.ts).
 * @throws OcikitError everything {@link extractLayoutArchive} throws
 */
export async function unpackContextArchive(
  file: string,
  dir: string,
  options: UnpackOptions = {},
): Promise<ExtractResult> {
  archiveLimits(options.maxBytes); // a usage error before anything is created
  await fsp.mkdir(dir);
  const { extractLayoutArchive } = await import('./unpack.js');
  const result = await extractLayoutArchive(file, dir, options);
  await fsp.mkdir(path.join(dir, 'ingest'));
  return result;
}
