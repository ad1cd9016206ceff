/** A full listing of a tree with modes, sizes, mtimes, link targets and content hashes. */
import { createHash } from 'node:crypto';
import {
  lstatSync,
  lutimesSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  utimesSync,
  watch,
  type FSWatcher,
} from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

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

/** Call `fn` on `root` and everything under it (not following symlinks), parents first. */
export function walkTree(root: string, fn: (abs: string, isDir: boolean) => void): void {
  const st = lstatSync(root);
  fn(root, st.isDirectory());
  if (st.isDirectory())
    for (const name of readdirSync(root).sort()) walkTree(path.join(root, name), fn);
}

function atimes(root: string): string[] {
  const out: string[] = [];
  walkTree(root, (abs) =>
    out.push(`${path.relative(root, abs) || '.'} atime=${lstatSync(abs).atimeMs}`),
  );
  return out;
}

/** The assertion message for an empty {@link observe} result. */
export const UNCHANGED =
  'no inotify event; paths, modes, mtimes (dirs too), sizes, sha256 and atimes unchanged';

/** What {@link observe} returns. */
export interface Observation {
  /** False where reads move atimes (strictatime): atimes are then not compared. */
  atimes: boolean;
  /** Stop watching; everything that happened (empty when nothing did). */
  changes: () => Promise<string[]>;
}

/**
 * Start watching a tree for anything a process could do to it; `changes()` stops and lists what
 * happened (empty when nothing did): inotify events (every directory is watched) and the
 * difference of {@link snapshotTree} and of atimes before and after. Atimes are set in the
 * future first (but < 24 h): relatime then never updates them on reads, so an atime change is
 * one a tool made on purpose (utimes). This is checked first: where reads do move atimes
 * (strictatime) they are not compared. Symlinks are not followed: their own times are set.
 */
export function observe(root: string): Observation {
  const future = new Date(Date.now() + 3600_000);
  walkTree(root, (abs) => {
    const st = lstatSync(abs);
    // utimes follows symlinks (and throws on a dangling one): a link's own times via lutimes.
    (st.isSymbolicLink() ? lutimesSync : utimesSync)(abs, future, st.mtime);
  });
  const atimesBefore = atimes(root);
  walkTree(root, (abs, isDir) => {
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) readlinkSync(abs);
    else if (isDir) readdirSync(abs);
    else readFileSync(abs);
  });
  const atimesMeaningful = JSON.stringify(atimes(root)) === JSON.stringify(atimesBefore);
  const before = snapshotTree(root);
  const events: string[] = [];
  const watchers: FSWatcher[] = [];
  walkTree(root, (abs, isDir) => {
    if (!isDir) return;
    watchers.push(
      watch(abs, (type, name) =>
        events.push(`inotify ${type} ${path.relative(root, path.join(abs, String(name)))}`),
      ),
    );
  });
  const diff = (a: string[], b: string[]): string[] => [
    ...a.filter((l) => !b.includes(l)).map((l) => `- ${l}`),
    ...b.filter((l) => !a.includes(l)).map((l) => `+ ${l}`),
  ];
  return {
    atimes: atimesMeaningful,
    changes: async () => {
      await sleep(200); // let the last inotify events arrive
      for (const w of watchers) w.close();
      const out = [...events, ...diff(before, snapshotTree(root))];
      if (atimesMeaningful) out.push(...diff(atimesBefore, atimes(root)));
      return out;
    },
  };
}
