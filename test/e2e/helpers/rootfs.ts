/**
 * Tools of a Debian root filesystem (scripts/e2e/rootfs.sh) run where they were installed:
 * through scripts/e2e/in-rootfs.sh (a private mount and PID namespace, pivot_root, the host's
 * network). Used for tools nobody here wrote (crane, skopeo, oras, docker-registry in forky),
 * so the e2e tests depend neither on the host's copies nor on the host's /etc/containers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { run, type Ran } from './exec.js';
import { ROOT } from './paths.js';
import type { Suite } from './suite.js';

export const IN_ROOTFS = path.join(ROOT, 'scripts', 'e2e', 'in-rootfs.sh');

/** Where rootfs.sh keeps a suite's root filesystem. */
export function rootfsDir(suite: Suite): string {
  return path.join(process.env['OCIKIT_CACHE'] ?? '/var/cache/ocikit', `rootfs-${suite}`);
}

/** The executables (names under /usr/bin) missing from a suite's root filesystem. */
export function missingTools(suite: Suite, names: readonly string[]): string[] {
  return names.filter((n) => !existsSync(path.join(rootfsDir(suite), 'usr', 'bin', n)));
}

/** The environment in-rootfs.sh itself needs (it gives CMD a clean one). */
function hostEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const k of ['OCIKIT_CACHE', 'OCIKIT_DEBIAN_MIRROR']) {
    if (process.env[k] !== undefined) env[k] = process.env[k];
  }
  return env;
}

export interface InRootfsOptions {
  /** Host directories visible inside at the same path (read-write); the first is the cwd. */
  binds: readonly string[];
  /** NAME=VALUE entries added to CMD's clean environment. */
  env?: readonly string[];
  timeoutMs?: number;
}

function argv(suite: Suite, cmd: readonly string[], o: InRootfsOptions): string[] {
  return [
    IN_ROOTFS,
    suite,
    ...o.binds.flatMap((b) => ['--bind', b]),
    ...(o.env ?? []).flatMap((e) => ['--env', e]),
    '--',
    ...cmd,
  ];
}

/** Run `cmd` inside the suite's root filesystem; never throws (see {@link run}). */
export function inRootfs(suite: Suite, cmd: readonly string[], o: InRootfsOptions): Ran {
  return run(argv(suite, cmd, o), {
    env: hostEnv(),
    cwd: o.binds[0] ?? '/',
    timeoutMs: o.timeoutMs ?? 300_000,
    stdin: 'ignore',
  });
}

/**
 * Start `cmd` inside the suite's root filesystem in the background, stdout and stderr appended
 * to `log`. Stop it with {@link stopInRootfs}: in-rootfs.sh execs `unshare --kill-child`, so
 * SIGKILL to that process ends the PID namespace and everything in it.
 */
export function startInRootfs(
  suite: Suite,
  cmd: readonly string[],
  o: InRootfsOptions & { log: string },
): ChildProcess {
  const fd = openSync(o.log, 'a');
  try {
    const [exe, ...args] = argv(suite, cmd, o);
    return spawn(exe as string, args, {
      env: hostEnv(),
      cwd: o.binds[0] ?? '/',
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
}

/** SIGKILL a process from {@link startInRootfs} and wait for it to be gone. */
export async function stopInRootfs(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await gone;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}
