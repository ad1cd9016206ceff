/**
 * The ocikit command line: a yargs parser that tests drive directly through {@link run}.
 * Exit codes: 0 ok, 1 failure (including verification failures), 2 usage error.
 */
import yargs, { type Argv } from 'yargs';
import { ErrorCode, OcikitError } from '../errors.js';
import type { GlobalArgs } from './common.js';
import * as buildCmd from './commands/build.js';
import * as buildxArgsCmd from './commands/buildx-args.js';
import * as contextCmd from './commands/context.js';
import * as indexCmd from './commands/index.js';
import * as inspectCmd from './commands/inspect.js';
import * as packCmd from './commands/pack.js';
import * as resolveCmd from './commands/resolve.js';
import * as unpackCmd from './commands/unpack.js';
import * as verifyCmd from './commands/verify.js';
import type { CliIo } from './io.js';
import { asOcikitError, reportError, stableJson } from './output.js';
import { OutputSet, type InputPath } from '../output/outputs.js';
import os from 'node:os';
import path from 'node:path';

declare const __OCIKIT_VERSION__: string | undefined;
/** The version baked in by the bundler (`dev` when run from sources). */
export const VERSION = typeof __OCIKIT_VERSION__ === 'string' ? __OCIKIT_VERSION__ : 'dev';

interface CommandModule<A> {
  command: string;
  describe: string;
  builder: (y: Argv<GlobalArgs>) => Argv<A>;
  handler: (io: CliIo, args: GlobalArgs & A, outputs: OutputSet) => Promise<number>;
  inputs: (io: CliIo, args: GlobalArgs & A) => InputPath[];
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
export async function run(argv: readonly string[], outerIo: CliIo): Promise<number> {
  const jsonOut = jsonOutPath(argv);
  let captured = '';
  const io: CliIo = { ...outerIo, stdout: (t) => void (captured += t) };
  const args = jsonOut !== undefined && !argv.includes('--json') ? [...argv, '--json'] : [...argv];
  const outputs = new OutputSet({ cwd: outerIo.cwd });
  try {
    let jsonOutFailed = false;
    // Runs after the command's inputs are known and before any of its work.
    const openJsonOut = async (): Promise<void> => {
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
    if (jsonOutFailed) {
      // The error cannot go to --json-out: tell it where --json would have.
      if (!argv.includes('--json')) tellError(outerIo, captured);
      else outerIo.stdout(captured);
      return code;
    }
    let committed = false;
    try {
      if (code === 0) {
        if (jsonOut !== undefined) await outputs.writeFile(JSON_OUT, jsonOut, captured);
        await outputs.commit();
        committed = true;
        published = true;
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
    }
    // A signal that came while the last commit finished did not stop it: the run succeeded.
    return outputs.interrupted !== undefined && !committed
      ? signalExitCode(outputs.interrupted)
      : code;
  } finally {
    await outputs.close();
  }
}

const JSON_OUT = '--json-out';

let published = false;

/**
 * True once a run in this process has committed its outputs: a signal can no longer take them
 * back, so it must not make the process exit as interrupted (see signals.ts).
 */
export function outputsPublished(): boolean {
  return published;
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

function jsonOutPath(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') break;
    if (a === '--json-out') return argv[i + 1];
    if (a.startsWith('--json-out=')) return a.slice('--json-out='.length);
  }
  return undefined;
}

async function runParsed(
  argv: readonly string[],
  io: CliIo,
  outputs: OutputSet,
  beforeWork: () => Promise<void>,
): Promise<number> {
  let exitCode: number | undefined;
  const wantsJson = argv.includes('--json');
  const parser = yargs([...argv])
    .scriptName('ocikit')
    .version(VERSION)
    .strict()
    .exitProcess(false)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .option('json', {
      type: 'boolean',
      default: false,
      global: true,
      describe: 'Print exactly one JSON document on stdout',
    })
    .option('json-out', {
      type: 'string',
      global: true,
      describe: 'Write the --json document to this file (atomically) instead of stdout',
    })
    .option('strict', {
      type: 'boolean',
      default: false,
      global: true,
      describe: 'Reject spec deviations that are otherwise warnings',
    })
    .option('allow-unknown-platforms', {
      type: 'boolean',
      default: false,
      global: true,
      describe:
        'Accept a --platform whose os, architecture or variant is not a known value (Go GOOS/GOARCH, OCI variants)',
    })
    .demandCommand(1, 'Name a command.')
    .recommendCommands()
    .fail((msg, err) => {
      if (exitCode !== undefined) return;
      const message = msg ?? err?.message ?? 'invalid arguments';
      exitCode = reportError(
        io,
        new OcikitError(ErrorCode.Usage, message, { hint: 'Run ocikit --help for usage.' }),
        wantsJson,
      );
    })
    .help()
    .epilog('Exit codes: 0 ok, 1 failure, 2 usage error. Docs: README.md');

  const commands = [
    resolveCmd,
    inspectCmd,
    verifyCmd,
    contextCmd,
    buildxArgsCmd,
    buildCmd,
    indexCmd,
    packCmd,
    unpackCmd,
  ] as unknown as CommandModule<Record<string, unknown>>[];
  for (const c of commands) {
    parser.command(
      c.command,
      c.describe,
      (y) => c.builder(y as Argv<GlobalArgs>),
      async (args) => {
        if (exitCode !== undefined) return; // a usage error was already reported
        try {
          await outputs.addInputs(
            c.inputs(io, args as unknown as GlobalArgs & Record<string, unknown>),
          );
          await beforeWork();
          exitCode = await c.handler(
            io,
            args as unknown as GlobalArgs & Record<string, unknown>,
            outputs,
          );
        } catch (e) {
          exitCode = reportError(io, e, (args as { json?: boolean }).json === true);
        }
      },
    );
  }
  let output = '';
  try {
    await parser.parseAsync([...argv], {}, (_err, _argv, out) => {
      output = out;
    });
  } catch (e) {
    if (exitCode === undefined) exitCode = reportError(io, e, wantsJson);
  }
  if (output !== '' && exitCode === undefined) {
    io.stdout(output.endsWith('\n') ? output : `${output}\n`);
  }
  return exitCode ?? 0;
}
