/** Drive the CLI in-process (the exported parser) or as the bundled binary. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/main.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BUNDLE = path.join(ROOT, 'dist/ocikit.mjs');

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
