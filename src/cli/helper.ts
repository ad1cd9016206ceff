/**
 * The rules' helper (rules/private/helper.mjs) when an action's argument files name it: its
 * `stage` and `config` run in this process (in the persistent worker, once per request), every
 * other command as a child process `node helper.mjs ...` in the request's directory, its output
 * passed on. Either way the helper's exit code is the action's.
 */
import type { CliIo } from './io.js';

interface HelperModule {
  IN_PROCESS_COMMANDS: readonly string[];
  runHelper: (argv: string[], io: { cwd: string; stderr: (t: string) => void }) => number;
}

/**
 * Run helper.mjs (`url`: its file URL, `file`: its path) with `argv`.
 * `importModule` imports an ES module (the CLI's code is a script and cannot).
 */
export async function runHelperScript(
  file: string,
  url: string,
  argv: readonly string[],
  io: CliIo,
  importModule: (url: string) => Promise<unknown>,
  signal?: AbortSignal,
): Promise<number> {
  const helper = (await importModule(url)) as HelperModule;
  if (helper.IN_PROCESS_COMMANDS.includes(argv[0] ?? ''))
    return helper.runHelper([...argv], { cwd: io.cwd, stderr: io.stderr });
  const { spawn } = process.getBuiltinModule('node:child_process');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...argv], {
      cwd: io.cwd,
      env: io.env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(signal !== undefined ? { signal } : {}),
    });
    child.stdout.setEncoding('utf8').on('data', (d: string) => io.stdout(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => io.stderr(d));
    child.on('error', (e) => {
      if (signal?.aborted !== true) io.stderr(`ocikit: cannot run ${file}: ${e.message}\n`);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
}
