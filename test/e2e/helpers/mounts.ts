/**
 * Read-only bind mounts for the e2e tests, always undone: every mount is recorded and
 * unmounted (lazily if busy) in a teardown, and {@link mountsUnder} lets a test prove that
 * nothing is left in /proc/mounts.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { mustRun, runTool } from '../../helpers/tools.js';

/** Mount points from /proc/mounts (octal escapes decoded). */
export function mountPoints(): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((f): f is string => f !== undefined && f !== '')
    .map((f) => f.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** Mount points at or below `dir`. */
export function mountsUnder(dir: string): string[] {
  return mountPoints().filter((m) => m === dir || m.startsWith(dir + path.sep));
}

/** Unmount, lazily if the mount is busy; throws when neither works. */
export function unmount(mp: string): void {
  if (runTool('umount', [mp]).code === 0) return;
  const lazy = runTool('umount', ['-l', mp]);
  if (lazy.code !== 0) throw new Error(`cannot unmount ${mp}: ${lazy.stderr.trim()}`);
}

/** The part of a tap Test that {@link Mounts} needs. */
interface TeardownTest {
  teardown(fn: () => void | Promise<void>): void;
}

/** Read-only bind mounts owned by one test, unmounted in its teardown (newest first). */
export class Mounts {
  private readonly points: string[] = [];

  constructor(t: TeardownTest) {
    t.teardown(() => this.release());
  }

  /** `mount --bind src mp && mount -o remount,bind,ro mp`; `mp` is created (must be new). */
  readOnly(src: string, mp: string): string {
    mkdirSync(mp);
    mustRun('mount', ['--bind', src, mp]);
    this.points.push(mp);
    mustRun('mount', ['-o', 'remount,bind,ro', mp]);
    return mp;
  }

  /** Unmount everything this object mounted. */
  release(): void {
    const errors: string[] = [];
    for (const mp of this.points.splice(0).reverse()) {
      try {
        unmount(mp);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (errors.length > 0) throw new Error(errors.join('\n'));
  }
}
