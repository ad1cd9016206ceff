/**
 * Single-output helpers over {@link OutputSet} (src/output/outputs.ts), for code that writes
 * one output and commits it itself. New code takes an OutputSet instead.
 */
import { OutputSet } from './output/outputs.js';

/** A pending output directory or file. */
export interface PendingDir {
  /** The final path. */
  readonly out: string;
  /** Where to write until {@link PendingDir.commit}. */
  readonly tmp: string;
  /** Move the output into place (never replacing anything but an empty directory). */
  commit(): Promise<void>;
  /** Remove what was not committed. Safe to call after commit. */
  abort(): Promise<void>;
}

/** A pending output file: write `tmp` (exclusively), then commit. */
export type PendingFile = PendingDir;

async function pending(
  kind: 'dir' | 'file',
  out: string,
  inputs: readonly string[],
): Promise<PendingDir> {
  const set = new OutputSet();
  try {
    await set.addInputs(inputs.map((p) => ({ path: p, label: `input ${p}` })));
    const o = kind === 'dir' ? await set.dir('--out', out) : await set.file('--out', out);
    return { out: o.out, tmp: o.tmp, commit: () => set.commit(), abort: () => set.close() };
  } catch (e) {
    await set.close();
    throw e;
  }
}

/**
 * Check `out` (absolute) against `inputs` and create its temporary sibling directory.
 * @throws OcikitError `OCIKIT_OUT_INVALID`, `OCIKIT_OUT_NOT_EMPTY`, `OCIKIT_OUT_INSIDE_INPUT`, errno codes
 */
export function pendingDir(out: string, inputs: readonly string[] = []): Promise<PendingDir> {
  return pending('dir', out, inputs);
}

/**
 * Check that `out` (absolute) does not exist and name its temporary sibling file.
 * @throws OcikitError `OCIKIT_OUT_NOT_EMPTY` when `out` exists, `OCIKIT_OUT_INSIDE_INPUT`, errno codes
 */
export function pendingFile(out: string, inputs: readonly string[] = []): Promise<PendingFile> {
  return pending('file', out, inputs);
}

/** Write a file inside a pending directory (the directory is committed later as a whole). */
export { writeFileIn } from './output/write.js';
