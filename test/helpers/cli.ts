/** Drive the CLI in-process (the exported parser) or as the bundled binary. */
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/main.js';
import { CLEAN_ENV } from './tools.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BUNDLE = path.join(ROOT, 'dist/ocikit.cjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in this process with captured output. */
export async function cli(
  args: string[],
  cwd = process.cwd(),
  env: Record<string, string | undefined> = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    stderrIsTTY: false,
    cwd,
    env,
  });
  return { code, stdout, stderr };
}

/** Run the bundled CLI as a child process (optionally wrapped, e.g. in setpriv). */
export function bundle(
  args: string[],
  options: { prefix?: string[]; cwd?: string } = {},
): CliResult {
  const argv = [...(options.prefix ?? []), process.execPath, BUNDLE, ...args];
  const r = spawnSync(argv[0] as string, argv.slice(1), {
    encoding: 'utf8',
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI with `args`, and `env` added to its (otherwise clean) environment. */
export type Runner = (args: string[], env?: Record<string, string>) => Promise<CliResult>;

/**
 * The bundled CLI as a child process, as {@link bundle} runs it (same argv shape) but through
 * CLEAN_ENV (only PATH, plus `env` and the runner's own `env`), and asynchronous so that many
 * command lines run in parallel. `prefix` wraps node (e.g. setpriv), `script` replaces the
 * bundle (a copy another user can read).
 */
export function bundled(
  options: { prefix?: string[]; cwd?: string; script?: string; env?: Record<string, string> } = {},
): Runner {
  return (args, env = {}) =>
    new Promise((resolve) => {
      const vars = Object.entries({ ...options.env, ...env }).map(([k, v]) => `${k}=${v}`);
      const argv = [
        ...CLEAN_ENV,
        ...vars,
        ...(options.prefix ?? []),
        process.execPath,
        options.script ?? BUNDLE,
        ...args,
      ];
      execFile(
        argv[0] as string,
        argv.slice(1),
        {
          cwd: options.cwd ?? ROOT,
          env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
          encoding: 'utf8',
          maxBuffer: 64 << 20,
        },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
          resolve({
            code,
            stdout,
            stderr: err !== null && code === -1 ? `${stderr}${err.message}\n` : stderr,
          });
        },
      );
    });
}

/** Run `jobs` with at most `limit` at a time; results in the order of `jobs`. */
export async function pool<T>(jobs: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results = new Array<T>(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < jobs.length; i = next++)
      results[i] = await (jobs[i] as () => Promise<T>)();
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, jobs.length)) }, worker));
  return results;
}
