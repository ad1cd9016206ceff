/**
 * Where a path really points, and whether two paths overlap: the policy half of the output
 * guard. Paths are compared after the kernel would resolve them (symlinks and `..` taken in
 * order, as open(2) does), also when the path does not exist yet.
 */
import { readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';

/** As many symlinks as Linux follows in one path lookup (ELOOP beyond). */
const MAX_SYMLINKS = 40;

/**
 * The absolute path `p` (relative to `cwd`) names, resolved as the kernel resolves it: the
 * longest existing prefix of the path as written goes through realpath(3) (which follows
 * symlinks and takes `..` after them, unlike path.resolve), and the missing rest is appended
 * lexically (nothing there can be a symlink yet). A dangling symlink on the way is followed
 * to where it points: where a write through it would land, which the guard must judge
 * (OutputSet then refuses to write through it).
 */
export async function canonicalPath(p: string, cwd: string, hops = 0): Promise<string> {
  const raw = path.isAbsolute(p) ? p : `${cwd}/${p}`;
  const parts = raw.split('/');
  for (let n = parts.length; n > 1; n--) {
    const prefix = parts.slice(0, n).join('/') || '/';
    const rest = parts.slice(n).filter((s) => s !== '');
    // Synchronous calls (the native realpath(3)): a few per output or input, where the thread
    // pool would be started for them (~2 ms of a cold start).
    try {
      const real = realpathSync.native(prefix);
      return path.resolve(real, ...rest);
    } catch {
      // missing (or unreadable): try a shorter prefix, unless it is a dangling symlink
    }
    if (hops >= MAX_SYMLINKS) continue;
    let target: string | undefined;
    try {
      target = readlinkSync(prefix);
    } catch {
      target = undefined;
    }
    if (target === undefined) continue;
    const from = path.isAbsolute(target)
      ? target
      : `${await canonicalPath(parts.slice(0, n - 1).join('/') || '/', cwd, hops + 1)}/${target}`;
    return canonicalPath([from, ...rest].join('/'), cwd, hops + 1);
  }
  return path.resolve(raw);
}

/** How `a` relates to `b`: the same path, inside it, containing it, or apart. */
export type Overlap = 'equal' | 'inside' | 'contains' | undefined;

/** The relation of two canonical paths (see {@link canonicalPath}). */
export function overlap(a: string, b: string): Overlap {
  if (a === b) return 'equal';
  if (isWithin(a, b)) return 'inside';
  if (isWithin(b, a)) return 'contains';
  return undefined;
}

function isWithin(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel);
}

/** "equal to", "inside", "a parent of": for messages. */
export function describeOverlap(o: Exclude<Overlap, undefined>): string {
  return o === 'equal' ? 'the same path as' : o === 'inside' ? 'inside' : 'a parent of';
}
