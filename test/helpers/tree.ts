/** A full listing of a tree with modes, sizes, mtimes, link targets and content hashes. */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export function snapshotTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(root, rel);
    const st = lstatSync(abs);
    const base = `${rel || '.'} mode=${(st.mode & 0o7777).toString(8)} mtime=${st.mtimeMs}`;
    if (st.isSymbolicLink()) out.push(`${base} -> ${readlinkSync(abs)}`);
    else if (st.isDirectory()) {
      out.push(`${base} dir`);
      for (const name of readdirSync(abs).sort()) walk(rel === '' ? name : `${rel}/${name}`);
    } else if (st.isFile())
      out.push(
        `${base} size=${st.size} sha256=${createHash('sha256').update(readFileSync(abs)).digest('hex')}`,
      );
    else out.push(`${base} special`); // FIFOs, sockets, devices: never opened
  };
  walk('');
  return out;
}
