/**
 * The bundled CLI's process-level entry, called by the bootstrap (bin.ts) once it has loaded
 * this code: one command line run with the process's streams, signals and exit code, or the
 * persistent worker (`--persistent_worker`) serving Bazel's requests until stdin ends.
 */
import { pathToFileURL } from 'node:url';
import { ErrorCode, OcikitError } from '../errors.js';
import { abortOutputsSync, interruptOutputs } from '../output/outputs.js';
import { ArgFileError, argFilePaths, targetOf, type Target } from './argfile.js';
import { runHelperScript } from './helper.js';
import { processIo, type CliIo } from './io.js';
import { run, signalExitCode } from './main.js';
import { reportError } from './output.js';
import { installSignalHandlers } from './signals.js';
import { serveWorker, type RequestContext } from './worker.js';

/** What the bootstrap gives this code. */
export interface Host {
  /** The real path of the running bundle (dist/ocikit.cjs). */
  self: string;
  /** `import()` of a file URL (this code is compiled as a script, which cannot import). */
  importModule: (url: string) => Promise<unknown>;
}

/**
 * Run the command line `argv` (node and script removed) in this process and exit with its
 * code. `target` is what the bootstrap already read from argument files, if it did.
 */
export function main(argv: string[], host: Host, target?: Target): void {
  // Bazel starts a worker with the action's arguments before its first @FILE (none: the rules
  // run `node ocikit.cjs @ARGS...`) and `--persistent_worker`. Anywhere else it is an option
  // no command has (a usage error), never a switch to serving requests.
  if (argv.length === 1 && argv[0] === '--persistent_worker') {
    void worker(host);
    return;
  }
  const io = processIo();
  let published = false;
  const running = runTarget(argv, io, host, target, {
    onPublished: () => void (published = true),
  });
  installSignalHandlers(running, io.stderr, () => published, io.flush);
}

/** One command line as the CLI, or as the helper when it names helper.mjs. */
async function runTarget(
  argv: readonly string[],
  io: CliIo,
  host: Host,
  given: Target | undefined,
  options: { signal?: AbortSignal; onPublished?: () => void; request?: boolean },
): Promise<number> {
  let target: Target;
  try {
    target = given ?? targetOf(argv, io.cwd, host.self, options.request === true);
  } catch (e) {
    if (!(e instanceof ArgFileError)) throw e;
    return reportError(
      io,
      new OcikitError(ErrorCode.Usage, e.message, {
        hint: 'An argument file holds one argument per line; Bazel writes them (use_param_file).',
      }),
      argv.includes('--json'),
    );
  }
  if (target.kind === 'cli') {
    // The argument files were read: inputs, which no output may be on, in or above.
    const inputs = options.request === true ? [] : argFilePaths(argv, io.cwd);
    return run(target.argv, io, {
      ...options,
      inputs: inputs.map((p) => ({ path: p, label: `argument file ${p}` })),
    });
  }
  const url = pathToFileURL(target.path).href;
  return runHelperScript(target.path, url, target.argv, io, host.importModule, options.signal);
}

/**
 * The persistent worker. stdout carries only responses: whatever else would write there goes
 * to stderr (Bazel's worker log). SIGINT/SIGTERM/SIGHUP remove what running requests wrote,
 * then the process exits as signalled; so does a broken stdout or stderr (Bazel is gone: no
 * one reads the responses). A failure nobody awaited is logged; the worker goes on.
 */
async function worker(host: Host): Promise<void> {
  const stop = (code: number): never => {
    interruptOutputs('SIGTERM');
    abortOutputsSync();
    process.exit(code);
  };
  const protocolWrite = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  process.stdout.on('error', () => stop(1));
  process.stderr.on('error', () => stop(1));
  const log = (t: string): void => {
    if (!process.stderr.destroyed) process.stderr.write(t);
  };
  process.on('uncaughtException', (e) => log(`ocikit worker: uncaught ${e.stack ?? e}\n`));
  process.on('unhandledRejection', (e) =>
    log(`ocikit worker: unhandled rejection ${(e as Error)?.stack ?? e}\n`),
  );
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      interruptOutputs(sig);
      abortOutputsSync();
      process.exit(signalExitCode(sig));
    });
  }
  const cwd = process.cwd();
  process.stdin.setEncoding('utf8');
  await serveWorker({
    input: process.stdin,
    respond: (line) => void protocolWrite(line),
    log,
    cwd,
    run: (argv: string[], ctx: RequestContext) =>
      runTarget(
        argv,
        {
          stdout: ctx.write,
          stderr: ctx.write,
          stderrIsTTY: false,
          cwd: ctx.cwd,
          env: { ...process.env },
        },
        host,
        undefined,
        { signal: ctx.signal, request: true },
      ),
  });
  // stdin ended: once the last responses are out (or cannot be written), exit.
  protocolWrite('', () => process.exit(0));
}
