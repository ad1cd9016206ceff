/** Writing inside a pending output directory. */
import { promises as fsp } from 'node:fs';
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
