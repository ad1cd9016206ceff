/** Running the real tools of an e2e test (docker/buildx, ocikit, setpriv) with exact environments. */
import { spawnSync } from 'node:child_process';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time in milliseconds. */
  ms: number;
  command: string;
}

export interface RunOptions {
  /** The whole environment of the child (nothing is inherited). */
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Prepended to argv, e.g. setpriv arguments. */
  prefix?: string[];
  timeoutMs?: number;
  /**
   * The child's stdin: an empty pipe (default) or /dev/null. A bash started on a pipe (a socket
   * under libuv) thinks a remote shell daemon started it and reads ~/.bashrc; 'ignore' avoids it.
   */
  stdin?: 'pipe' | 'ignore';
}

/** Run argv; never throws (a spawn failure or timeout is a non-zero code with the reason in stderr). */
export function run(argv: readonly string[], options: RunOptions): Ran {
  const full = [...(options.prefix ?? []), ...argv];
  const start = process.hrtime.bigint();
  const r = spawnSync(full[0] as string, full.slice(1), {
    env: options.env,
    cwd: options.cwd ?? '/',
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 300_000,
    maxBuffer: 64 * 1024 * 1024,
    stdio: [options.stdin ?? 'pipe', 'pipe', 'pipe'],
  });
  const ms = Number((process.hrtime.bigint() - start) / 1_000_000n);
  let stderr = r.stderr ?? '';
  if (r.error !== undefined) stderr += `\n${r.error.message}`;
  if (r.signal !== null) stderr += `\nkilled by ${r.signal}`;
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr, ms, command: full.join(' ') };
}

/** The last `n` lines of a text, for assertion diagnostics. */
export function tail(text: string, n = 15): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/** The first line that names an error (buildx prints `ERROR: ...`; Go panics `panic: ...`). */
export function errorLine(text: string): string {
  const lines = text.split('\n');
  return (
    lines.find((l) => /^(ERROR|panic):/.test(l)) ??
    lines.find((l) => /error/i.test(l)) ??
    ''
  ).trim();
}

/** `1.23s` */
export function secs(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}
