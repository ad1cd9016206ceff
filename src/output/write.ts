/** Writing inside a pending output directory. */
import { mkdirSync, promises as fsp, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Write a new file `rel` inside the pending directory `dir` (parents created, never replacing). */
export async function writeFileIn(
  dir: string,
  rel: string,
  content: string | Uint8Array,
): Promise<void> {
  const file = path.join(dir, rel);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, content, { flag: 'wx' });
}

/**
 * {@link writeFileIn} with synchronous calls, for the few small files of a thin copy: a
 * thread-pool round trip per call costs more than the write.
 */
export function writeFileInSync(dir: string, rel: string, content: string | Uint8Array): void {
  const file = path.join(dir, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content, { flag: 'wx' });
}
