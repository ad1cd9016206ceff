/**
 * Writing outputs atomically: everything goes into a temporary sibling of the `--out` path,
 * which is renamed into place only when complete. An interrupted or failed run leaves no
 * `--out` (and removes its temporary sibling when it can).
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ErrorCode, OcikitError, errnoCode } from './errors.js';

/** A pending output directory. */
export interface PendingDir {
  /** The final path. */
  readonly out: string;
  /** Where to write until {@link PendingDir.commit}. */
  readonly tmp: string;
  /** Rename the temporary directory into place. */
  commit(): Promise<void>;
  /** Remove the temporary directory. Safe to call after commit (does nothing). */
  abort(): Promise<void>;
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

async function realOrSelf(p: string): Promise<string> {
  // Resolve the deepest existing ancestor, so paths that do not exist yet compare correctly.
  const missing: string[] = [];
  let cur = p;
  for (;;) {
    try {
      return path.join(await fsp.realpath(cur), ...missing.reverse());
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return p;
      missing.push(path.basename(cur));
      cur = parent;
    }
  }
}

/**
 * Check `out` (absolute) and create its temporary sibling. `out` may not exist yet, or be an
 * empty directory (Bazel creates declared output directories before the action runs).
 * @param inputs directories that `out` must not be inside of (nor contain).
 * @throws OcikitError `OCIKIT_OUT_INVALID`, `OCIKIT_OUT_NOT_EMPTY`, `OCIKIT_OUT_INSIDE_INPUT`
 */
export async function pendingDir(out: string, inputs: readonly string[] = []): Promise<PendingDir> {
  if (!path.isAbsolute(out)) throw new Error(`pendingDir needs an absolute path, got ${out}`);
  const realOut = await realOrSelf(out);
  for (const input of inputs) {
    const realInput = await realOrSelf(input);
    if (isInside(realOut, realInput) || isInside(realInput, realOut)) {
      throw new OcikitError(ErrorCode.OutInsideInput, `--out ${out} overlaps the input ${input}`, {
        hint: 'Write outputs somewhere outside the layouts ocikit reads; inputs are never written.',
        details: { out, input },
      });
    }
  }
  let existing = false;
  try {
    const st = await fsp.lstat(out);
    if (!st.isDirectory()) {
      throw new OcikitError(ErrorCode.OutNotEmpty, `--out ${out} exists and is not a directory`, {
        hint: 'Pass a path that does not exist yet, or an empty directory.',
        details: { out },
      });
    }
    if ((await fsp.readdir(out)).length > 0) {
      throw new OcikitError(ErrorCode.OutNotEmpty, `--out ${out} is not empty`, {
        hint: 'ocikit does not overwrite: remove it first or pass a new path.',
        details: { out },
      });
    }
    existing = true;
  } catch (e) {
    if (e instanceof OcikitError) throw e;
    if (errnoCode(e) !== 'ENOENT') {
      throw new OcikitError(ErrorCode.OutInvalid, `--out ${out}: ${errnoCode(e) ?? String(e)}`, {
        hint: 'Check the path and its permissions.',
      });
    }
  }
  const parent = path.dirname(out);
  const tmp = path.join(
    parent,
    `.${path.basename(out)}.ocikit-tmp-${randomBytes(6).toString('hex')}`,
  );
  try {
    await fsp.mkdir(parent, { recursive: true });
    await fsp.mkdir(tmp);
  } catch (e) {
    throw new OcikitError(
      ErrorCode.OutInvalid,
      `cannot create ${tmp}: ${errnoCode(e) ?? String(e)}`,
      {
        hint: 'The parent of --out must be writable.',
        details: { out },
      },
    );
  }
  let done = false;
  return {
    out,
    tmp,
    async commit() {
      if (existing) {
        // rename(2) replaces an empty directory; if something appeared meanwhile it fails.
        await fsp.rename(tmp, out).catch((e: unknown) => {
          throw new OcikitError(
            ErrorCode.OutNotEmpty,
            `--out ${out} changed while ocikit wrote it (${errnoCode(e) ?? String(e)})`,
            {
              hint: 'Do not write to --out concurrently.',
            },
          );
        });
      } else {
        await fsp.rename(tmp, out);
      }
      done = true;
    },
    async abort() {
      if (!done) await fsp.rm(tmp, { recursive: true, force: true });
    },
  };
}

/** Write a file inside a pending directory (the directory is renamed later as a whole). */
export async function writeFileIn(
  dir: string,
  rel: string,
  content: string | Uint8Array,
): Promise<void> {
  const file = path.join(dir, rel);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, content, { flag: 'wx' });
}

/** Write a file atomically: a temporary sibling, then rename. */
export async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.ocikit-tmp-${randomBytes(6).toString('hex')}`,
  );
  try {
    await fsp.writeFile(tmp, content, { flag: 'wx' });
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw new OcikitError(
      ErrorCode.OutInvalid,
      `cannot write ${file}: ${errnoCode(e) ?? String(e)}`,
      { hint: 'Check that the directory exists and is writable.' },
    );
  }
}

/** A pending output file: written at `tmp` (a sibling), renamed to `out` on commit. */
export interface PendingFile {
  readonly out: string;
  readonly tmp: string;
  commit(): Promise<void>;
  /** Remove the temporary file. Safe after commit (does nothing). */
  abort(): Promise<void>;
}

/**
 * Check that `out` (absolute) does not exist, create its parent, and name a temporary sibling.
 * @throws OcikitError `OCIKIT_OUT_NOT_EMPTY` when `out` exists, `OCIKIT_OUT_INVALID`
 */
export async function pendingFile(out: string): Promise<PendingFile> {
  if (!path.isAbsolute(out)) throw new Error(`pendingFile needs an absolute path, got ${out}`);
  if (
    await fsp.lstat(out).then(
      () => true,
      () => false,
    )
  ) {
    throw new OcikitError(ErrorCode.OutNotEmpty, `--out ${out} exists`, {
      hint: 'ocikit does not overwrite: remove it first or pass a new path.',
      details: { out },
    });
  }
  try {
    await fsp.mkdir(path.dirname(out), { recursive: true });
  } catch (e) {
    throw new OcikitError(
      ErrorCode.OutInvalid,
      `cannot create the directory of ${out}: ${errnoCode(e) ?? String(e)}`,
      {
        hint: 'The parent of --out must be writable.',
        details: { out },
      },
    );
  }
  const tmp = path.join(
    path.dirname(out),
    `.${path.basename(out)}.ocikit-tmp-${randomBytes(6).toString('hex')}`,
  );
  let done = false;
  return {
    out,
    tmp,
    async commit() {
      await fsp.rename(tmp, out);
      done = true;
    },
    async abort() {
      if (!done) await fsp.rm(tmp, { force: true });
    },
  };
}
