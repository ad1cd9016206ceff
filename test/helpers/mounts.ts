/**
 * Mounts made by tests (read-only bind mounts, small tmpfs), named so that this process can
 * tell its own from those of a tap run beside it and from those a killed run left behind.
 *
 * Every mount point is named `<kind>-mount-<pid>-<n>` and unmounted in a teardown that is
 * registered BEFORE t.testdir() (tap removes the testdir in onEOF hooks that run in reverse
 * order of registration, so this makes the unmount run before the removal). Mount points left
 * by a killed earlier run (their pid is gone) are unmounted by {@link cleanStaleMounts}, which
 * every test file that mounts calls before it touches a testdir.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './cli.js';
import { mountPoints } from '../e2e/helpers/mounts.js';
import { mustRun, runTool } from './tools.js';

/** Where tap puts testdirs. */
export const FIXTURES = path.join(ROOT, '.tap', 'fixtures');

const NAME = /^(ro|tmpfs)-mount-(\d+)-\d+$/;

export { mountPoints };

/** Mount points made by this helper under .tap/fixtures, by any process. */
function testMountPoints(): { mp: string; pid: number }[] {
  return mountPoints().flatMap((mp) => {
    const m = NAME.exec(path.basename(mp));
    return m !== null && mp.startsWith(FIXTURES + path.sep) ? [{ mp, pid: Number(m[2]) }] : [];
  });
}

/** This process's mount points (another tap process may be mounting beside it). */
export function ourMountPoints(): string[] {
  return testMountPoints()
    .filter((m) => m.pid === process.pid)
    .map((m) => m.mp);
}

/** Anything mounted inside this process's private testdirs (see privateTestdir). */
export function mountsInOurTestdirs(): string[] {
  const mine = `-pid${process.pid}${path.sep}`;
  return mountPoints().filter((m) => m.startsWith(FIXTURES + path.sep) && m.includes(mine));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function unmount(mp: string): void {
  if (runTool('umount', [mp]).code === 0) return;
  const lazy = runTool('umount', ['-l', mp]);
  if (lazy.code !== 0 && mountPoints().includes(mp))
    throw new Error(`cannot unmount ${mp}: ${lazy.stderr.trim()}`);
}

/**
 * Unmount what killed earlier runs left under .tap/fixtures (their pid is gone) and remove
 * their private testdirs, which nobody else will. Tolerates a second process doing the same.
 */
export function cleanStaleMounts(log: (message: string) => void): void {
  for (const { mp, pid } of testMountPoints()) {
    if (pid === process.pid || alive(pid)) continue;
    log(`unmounting ${mp}, left behind by an earlier run (pid ${pid})`);
    try {
      unmount(mp);
    } catch (e) {
      log((e as Error).message);
      continue;
    }
    const dir = path.dirname(mp);
    if (dir.endsWith(`-pid${pid}`) && path.dirname(dir) === FIXTURES)
      rmSync(dir, { recursive: true, force: true });
  }
}

let mountCount = 0;
const liveMounts = new Set<string>();
// Last resort when a test dies before its teardown (a timeout, an uncaught error): the next
// run also cleans up after a killed one (see cleanStaleMounts).
process.once('exit', () => {
  for (const mp of [...liveMounts].reverse()) runTool('umount', ['-l', mp]);
});

/** The part of a tap Test that {@link Mounts} uses. */
export interface TeardownTest {
  teardown(fn: () => void): void;
}

/** Tracks this test's mounts and unmounts them in a teardown. Create it BEFORE t.testdir(). */
export class Mounts {
  private readonly points: string[] = [];
  constructor(t: TeardownTest) {
    t.teardown(() => {
      const errors: string[] = [];
      for (const mp of this.points.splice(0).reverse()) {
        try {
          unmount(mp);
          liveMounts.delete(mp);
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
      if (errors.length > 0) throw new Error(errors.join('\n'));
    });
  }

  private point(kind: string, parent: string): string {
    const mp = path.join(parent, `${kind}-mount-${process.pid}-${++mountCount}`);
    mkdirSync(mp);
    return mp;
  }

  /** `mount --bind src mp && mount -o remount,bind,ro mp`, mp created beside src. */
  readOnly(src: string): string {
    const mp = this.point('ro', path.dirname(src));
    mustRun('mount', ['--bind', src, mp]);
    this.points.push(mp);
    liveMounts.add(mp);
    mustRun('mount', ['-o', 'remount,bind,ro', mp]);
    return mp;
  }

  /** `mount --bind src mp` (writable), mp a new directory under `parent`. */
  bind(src: string, parent: string): string {
    const mp = this.point('bind', parent);
    mustRun('mount', ['--bind', src, mp]);
    this.points.push(mp);
    liveMounts.add(mp);
    return mp;
  }

  /** A tmpfs of `bytes` (rounded up to pages) in a new directory under `parent`. */
  tmpfs(parent: string, bytes: number, mode = 0o755): string {
    const mp = this.point('tmpfs', parent);
    mustRun('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=${mode.toString(8)}`, 'tmpfs', mp]);
    this.points.push(mp);
    liveMounts.add(mp);
    return mp;
  }
}
