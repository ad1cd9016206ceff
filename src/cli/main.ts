/**
 * The ocikit command line, which tests drive directly through {@link run}. Commands, options
 * and help are data (spec.ts); a well-formed command line is read by the fast parser
 * (parse.ts) and only the command it names is loaded; help, usage errors and unusual
 * spellings go to yargs (yargs.ts), loaded on demand.
 * Exit codes: 0 ok, 1 failure (including verification failures), 2 usage error.
 */
import { ErrorCode, quote } from '../errors.js';
import type { CliIo } from './io.js';
import { parseFast } from './parse.js';
import type { Args, CommandSpec } from './spec.js';
import { asOcikitError, printWarnings, reportError, stableJson } from './output.js';
import { OutputSet, type InputPath } from '../output/outputs.js';
import { lstatSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { VERSION } from './version.js';

/** How a caller other than a one-run process (the persistent worker) steers a run. */
export interface RunOptions {
  /** Aborting it interrupts the run as SIGTERM does (Bazel's cancel of a worker request). */
  signal?: AbortSignal;
  /**
   * Called once the run has committed its outputs: a signal can no longer take them back, so
   * it must not make the process exit as interrupted (see signals.ts).
   */
  onPublished?: () => void;
  /** Inputs read before the command line was (its argument files): outputs are checked against them. */
  inputs?: readonly InputPath[];
}

/**
 * Run the CLI with `argv` (without node and script) and return the exit code.
 * Never throws and never exits the process.
 *
 * Every output of the run (the command's `--out`, `--args-file`, and `--json-out`) goes through
 * one {@link OutputSet}: checked against the inputs before any work, committed together when
 * the command succeeds, removed when it fails. stdout is held until then, so a run that fails
 * at the last step prints no result. A failed run with `--json-out` commits only that file,
 * holding the error document.
 */
export async function run(
  argv: readonly string[],
  outerIo: CliIo,
  options: RunOptions = {},
): Promise<number> {
  const jsonOut = jsonOutPath(argv);
  let captured = '';
  const io: CliIo = {
    stdout: (t) => void (captured += t),
    stderr: outerIo.stderr,
    // Asked only when a progress bar may be drawn (processIo finds out lazily).
    get stderrIsTTY() {
      return outerIo.stderrIsTTY;
    },
    cwd: outerIo.cwd,
    env: outerIo.env,
  };
  const args = jsonOut !== undefined && !argv.includes('--json') ? [...argv, '--json'] : [...argv];
  const outputs = new OutputSet({ cwd: outerIo.cwd });
  const cancel = (): void => outputs.interrupt('SIGTERM', 'cancelled');
  if (options.signal?.aborted === true) cancel();
  options.signal?.addEventListener('abort', cancel, { once: true });
  try {
    await outputs.addInputs(options.inputs ?? []);
    let jsonOutFailed = false;
    let inputsKnown = false;
    // Runs after the command's inputs are known and before any of its work.
    const openJsonOut = async (): Promise<void> => {
      inputsKnown = true;
      if (jsonOut === undefined) return;
      try {
        await outputs.file(
          JSON_OUT,
          path.isAbsolute(jsonOut) ? jsonOut : `${outerIo.cwd}/${jsonOut}`,
        );
      } catch (e) {
        jsonOutFailed = true;
        throw e;
      }
    };
    let code = await runParsed(args, io, outputs, openJsonOut);
    let refused: unknown;
    if (jsonOut !== undefined && !inputsKnown) {
      // The run stopped before its command named its inputs (a usage error, --help): every
      // existing path on the command line counts as one before --json-out is written.
      try {
        await outputs.addInputs(await commandLineInputs(argv, outerIo.cwd));
        await openJsonOut();
      } catch (e) {
        refused = e;
        jsonOutFailed = true;
      }
    }
    if (jsonOutFailed) {
      // The error cannot go to --json-out: tell it where --json would have.
      if (!argv.includes('--json')) tellError(outerIo, captured);
      else outerIo.stdout(captured);
      if (refused !== undefined) reportError(outerIo, refused, false);
      return code;
    }
    let committed = false;
    try {
      if (code === 0) {
        if (jsonOut !== undefined) await outputs.writeFile(JSON_OUT, jsonOut, captured);
        await outputs.commit();
        committed = true;
        options.onPublished?.();
      } else {
        await outputs.abort((label) => label === JSON_OUT);
        if (jsonOut !== undefined) {
          await outputs.writeFile(JSON_OUT, jsonOut, captured);
          await outputs.commit((label) => label === JSON_OUT);
        }
      }
    } catch (e) {
      await outputs.abort((label) => label === JSON_OUT);
      captured = '';
      code = asOcikitError(e).code === ErrorCode.Usage ? 2 : 1;
      // The run failed at its commit (another writer won, the disk filled): --json-out still
      // gets this run's error document when it can; otherwise the error goes where --json
      // (if given) prints it, else to stderr.
      let told = false;
      if (jsonOut !== undefined && !committed) {
        const doc = stableJson(asOcikitError(e).toJSON());
        try {
          await outputs.writeFile(JSON_OUT, jsonOut, doc);
          await outputs.commit((label) => label === JSON_OUT);
          captured = doc;
          told = true;
        } catch {
          // --json-out itself is what failed
        }
      }
      await outputs.abort();
      if (!told)
        code = reportError(jsonOut !== undefined ? outerIo : io, e, argv.includes('--json'));
    }
    if (jsonOut === undefined) {
      if (captured !== '') outerIo.stdout(captured);
    } else if (code !== 0) {
      tellError(outerIo, captured);
    } else {
      tellWarnings(outerIo, captured);
    }
    // A signal that came while the last commit finished did not stop it: the run succeeded.
    return outputs.interrupted !== undefined && !committed
      ? signalExitCode(outputs.interrupted)
      : code;
  } finally {
    options.signal?.removeEventListener('abort', cancel);
    await outputs.close();
  }
}

const JSON_OUT = '--json-out';

/**
 * With --json-out the document went to the file: its warnings (a deviating layout, a renamed
 * tag, ...) go to stderr too, where people and Bazel's build output see them.
 */
function tellWarnings(io: CliIo, doc: string): void {
  try {
    const parsed = JSON.parse(doc) as { warnings?: { code: string; message: string }[] };
    if (Array.isArray(parsed.warnings)) printWarnings(io, parsed.warnings);
  } catch {
    // not a single JSON document
  }
}

/** With --json-out the error document went to the file; people (and Bazel's log) read stderr. */
function tellError(io: CliIo, doc: string): void {
  try {
    const parsed = JSON.parse(doc) as { error?: { code: string; message: string; hint: string } };
    if (parsed.error !== undefined) {
      io.stderr(`ocikit: error ${parsed.error.code}: ${parsed.error.message}\n`);
      if (parsed.error.hint !== '') io.stderr(`  hint: ${parsed.error.hint}\n`);
    }
  } catch {
    // not a single JSON document (already told on stderr)
  }
}

/** 128 + the signal number, as a shell reports a process killed by it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 0);
}

/**
 * Every path the command line names that exists (an argument, the value of `NAME=VALUE`, each
 * reading of `PATH[:TAG][@DIGEST]`), as inputs: for a run whose command never named its own.
 * --json-out's value is the output, not an input.
 */
async function commandLineInputs(argv: readonly string[], cwd: string): Promise<InputPath[]> {
  const { refCandidates } = await import('../layout/reference.js');
  const out: InputPath[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--json-out') i++;
    if (a === '--json-out' || a.startsWith('--json-out=')) continue;
    const eq = a.indexOf('=');
    for (const value of eq > 0 ? [a, a.slice(eq + 1)] : [a]) {
      for (const ref of refCandidates(value.replace(/^oci-layout:\/\//, ''))) {
        const p = path.resolve(cwd, ref.path);
        if (ref.path !== '' && lstatSync(p, { throwIfNoEntry: false }) !== undefined)
          out.push({ path: p, label: `${quote(ref.path, 200)} named on the command line` });
      }
    }
  }
  return out;
}

/**
 * The one --json-out path of the command line. Given twice, empty or `-` it is a usage error
 * (see spec.ts), reported on stderr: no file is written for it.
 */
function jsonOutPath(argv: readonly string[]): string | undefined {
  const found: (string | undefined)[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') break;
    // Help goes to the terminal, not into a file meant for a JSON document.
    if (a === '--help' || a === '-h') return undefined;
    if (a === '--json-out') found.push(argv[i + 1]);
    if (a.startsWith('--json-out=')) found.push(a.slice('--json-out='.length));
  }
  const only = found.length === 1 ? found[0] : undefined;
  // Empty, or "-" (read as stdin/stdout, never as a file name): a usage error, no file.
  return only === '' || only === '-' ? undefined : only;
}

async function runParsed(
  argv: readonly string[],
  io: CliIo,
  outputs: OutputSet,
  beforeWork: () => Promise<void>,
): Promise<number> {
  const execute = async (command: CommandSpec, args: Args): Promise<number> => {
    try {
      const c = await command.load();
      const inputs = c.inputs as (io: CliIo, args: Args) => InputPath[];
      const handler = c.handler as (io: CliIo, args: Args, o: OutputSet) => Promise<number>;
      await outputs.addInputs(inputs(io, args));
      await beforeWork();
      return await handler(io, args, outputs);
    } catch (e) {
      return reportError(io, e, args.json === true);
    }
  };
  if (argv.length === 1 && argv[0] === '--version') {
    io.stdout(`${VERSION}\n`);
    return 0;
  }
  const fast = parseFast(argv);
  if (fast !== undefined) return execute(fast.command, fast.args);
  const { parseWithYargs } = await import('./yargs.js');
  return parseWithYargs(argv, io, VERSION, execute);
}
