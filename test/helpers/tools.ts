/**
 * Real tools and capabilities that tests depend on (skopeo, umoci, bind mounts, setpriv).
 *
 * House rule: a test that needs a real tool uses the real tool, and in CI (`CI=true`) a
 * missing prerequisite is a failure, never a silent skip. Elsewhere it is a skip with a reason.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  accessSync,
  constants as fsc,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The uid/gid tests run the CLI as when they need a non-root user (nobody/nogroup). */
export const NOBODY = 65534;

/** `setpriv` arguments that run a command as {@link NOBODY} with no supplementary groups. */
export const AS_NOBODY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];

/**
 * `t.testdir()`, with this process's pid in the name. Two tap runs on one checkout (someone runs
 * the whole suite while someone else runs one file) would otherwise share fixture directories
 * and delete each other's, and a bind mount must never be shared. tap still removes it at the
 * end of the test.
 */
export function privateTestdir(t: { testdirName: string; testdir(): string }): string {
  t.testdirName = `${t.testdirName}-pid${process.pid}`;
  return t.testdir();
}

/**
 * A command prefix that starts the rest with only PATH in its environment, as a user's shell or
 * a Bazel action would. tap adds NODE_OPTIONS=--import=<its processinfo/coverage hook> to every
 * child it sees spawned; `env -i` keeps that out of the CLI under test, which halves its start-up
 * time and keeps tap's own writes (under .tap/) out of the process whose writes we examine.
 */
export const CLEAN_ENV = ['env', '-i', `PATH=${process.env['PATH'] ?? '/usr/bin:/bin'}`];

/** The part of a tap Test that {@link requireTool} uses. */
export interface PrereqTest {
  fail(message: string): boolean;
  plan(n: number, comment?: string): void;
}

/** True when running in CI, where missing prerequisites fail instead of skipping. */
export function isCI(): boolean {
  return /^(true|1)$/i.test(process.env['CI'] ?? '');
}

/** The outcome of {@link runTool}: stdout as bytes (callers may hash it), stderr as text. */
export interface ToolResult {
  code: number;
  stdout: Buffer;
  stderr: string;
  /** The command line, for messages. */
  command: string;
}

/** Run a program synchronously; never throws (a spawn failure is code -1 with the error in stderr). */
export function runTool(
  cmd: string,
  args: readonly string[],
  options: SpawnSyncOptions = {},
): ToolResult {
  const r = spawnSync(cmd, [...args], { timeout: 120_000, ...options, encoding: 'buffer' });
  const stderr = `${r.stderr?.toString('utf8') ?? ''}${r.error !== undefined ? `${r.error.message}\n` : ''}`;
  return {
    code: r.status ?? -1,
    stdout: r.stdout ?? Buffer.alloc(0),
    stderr: r.signal !== null ? `${stderr}killed by ${r.signal}\n` : stderr,
    command: [cmd, ...args].join(' '),
  };
}

/** Run a program that must succeed; throws with its stderr otherwise. Returns stdout. */
export function mustRun(
  cmd: string,
  args: readonly string[],
  options: SpawnSyncOptions = {},
): Buffer {
  const r = runTool(cmd, args, options);
  if (r.code !== 0) throw new Error(`\`${r.command}\` exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

/** The absolute path of an executable on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, fsc.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

const INSTALL_HINTS: Record<string, string> = {
  skopeo: 'apt-get install skopeo',
  umoci: 'apt-get install umoci',
  setpriv: 'apt-get install util-linux',
  mount: 'apt-get install mount',
  umount: 'apt-get install mount',
};

function toolProblem(name: string): string | undefined {
  const file = which(name);
  if (file === undefined) {
    const hint = INSTALL_HINTS[name];
    return `${name} is not on PATH${hint !== undefined ? ` (Debian: ${hint})` : ''}`;
  }
  const r = runTool(file, ['--version'], { timeout: 30_000 });
  if (r.code !== 0) return `\`${name} --version\` exited ${r.code}: ${r.stderr.trim()}`;
  return undefined;
}

function rootProblem(): string | undefined {
  return process.getuid?.() === 0
    ? undefined
    : `the test process runs as uid ${process.getuid?.()}, not root`;
}

/** Can we make a read-only bind mount (root, mount/umount, CAP_SYS_ADMIN), and does it stop root's writes? */
function bindMountProblem(): string | undefined {
  const missing = rootProblem() ?? toolProblem('mount') ?? toolProblem('umount');
  if (missing !== undefined) return missing;
  const base = mkdtempSync(path.join(os.tmpdir(), 'ocikit-mount-probe-'));
  const src = path.join(base, 'src');
  const dst = path.join(base, 'dst');
  mkdirSync(src);
  mkdirSync(dst);
  let mounted = false;
  try {
    const bind = runTool('mount', ['--bind', src, dst]);
    if (bind.code !== 0)
      return `cannot bind-mount (${bind.stderr.trim()}); the tests need root with CAP_SYS_ADMIN`;
    mounted = true;
    const ro = runTool('mount', ['-o', 'remount,bind,ro', dst]);
    if (ro.code !== 0) return `cannot remount a bind mount read-only (${ro.stderr.trim()})`;
    try {
      writeFileSync(path.join(dst, 'probe'), 'x');
      return 'a read-only bind mount did not stop a write by root';
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EROFS')
        return `writing to a read-only bind mount failed with ${String(e)}, not EROFS`;
    }
    return undefined;
  } finally {
    if (mounted && runTool('umount', [dst]).code !== 0) runTool('umount', ['-l', dst]);
    rmSync(base, { recursive: true, force: true });
  }
}

/** Can we run node as {@link NOBODY} through setpriv? */
function setprivProblem(): string | undefined {
  const missing =
    rootProblem() ??
    (which('setpriv') === undefined
      ? `setpriv is not on PATH (Debian: ${INSTALL_HINTS['setpriv']})`
      : undefined);
  if (missing !== undefined) return missing;
  const script = `process.exit(process.getuid() === ${NOBODY} && process.getgid() === ${NOBODY} ? 0 : 3)`;
  const r = runTool(
    AS_NOBODY[0] as string,
    [...AS_NOBODY.slice(1), process.execPath, '-e', script],
    { cwd: '/' },
  );
  if (r.code !== 0)
    return `cannot run ${process.execPath} as uid ${NOBODY} with setpriv (exit ${r.code}: ${r.stderr.trim()})`;
  return undefined;
}

const CAPABILITIES: Record<string, () => string | undefined> = {
  root: rootProblem,
  'bind-mount': bindMountProblem,
  setpriv: setprivProblem,
};

const cache = new Map<string, string | undefined>();

/**
 * Why a prerequisite is unusable, or undefined when it is usable. `name` is a capability
 * (`root`, `bind-mount`: root can make read-only bind mounts; `setpriv`: root can run node
 * as uid 65534) or an executable on PATH (`skopeo`, `umoci`, ...). Probed once per process.
 */
export function prerequisiteProblem(name: string): string | undefined {
  if (!cache.has(name)) cache.set(name, (CAPABILITIES[name] ?? (() => toolProblem(name)))());
  return cache.get(name);
}

/**
 * Make sure a tool or capability is there before a test uses it. Call it first in a subtest,
 * before any assertion, and return when it says false:
 *
 *     if (!requireTool(t, 'skopeo')) return;
 *
 * Missing under `CI=true`: the test FAILS with the reason (a missing prerequisite is a failure,
 * never a silent skip). Missing elsewhere: the test is skipped with the reason.
 */
export function requireTool(t: PrereqTest, name: string): boolean {
  const problem = prerequisiteProblem(name);
  if (problem === undefined) return true;
  if (isCI()) {
    t.fail(
      `missing prerequisite ${JSON.stringify(name)}: ${problem}. CI=true, and in CI a missing prerequisite is a failure, never a silent skip.`,
    );
  } else {
    t.plan(0, `missing prerequisite ${JSON.stringify(name)}: ${problem} (with CI=true this fails)`);
  }
  return false;
}
