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
import { reportError } from './output.js';
import { writeFileAtomic } from '../out-dir.js';
import path from 'node:path';

declare const __OCIKIT_VERSION__: string | undefined;
/** The version baked in by the bundler (`dev` when run from sources). */
export const VERSION = typeof __OCIKIT_VERSION__ === 'string' ? __OCIKIT_VERSION__ : 'dev';

interface CommandModule<A> {
  command: string;
  describe: string;
  builder: (y: Argv<GlobalArgs>) => Argv<A>;
  handler: (io: CliIo, args: GlobalArgs & A) => Promise<number>;
}

/**
 * Run the CLI with `argv` (without node and script) and return the exit code.
 * Never throws and never exits the process.
 */
export async function run(argv: readonly string[], outerIo: CliIo): Promise<number> {
  // --json-out FILE: the --json document goes to FILE (atomically), for Bazel actions, whose
  // stdout cannot be redirected.
  const jsonOut = jsonOutPath(argv);
  let captured = '';
  const io: CliIo =
    jsonOut === undefined ? outerIo : { ...outerIo, stdout: (t) => void (captured += t) };
  const args = jsonOut !== undefined && !argv.includes('--json') ? [...argv, '--json'] : [...argv];
  const code = await runParsed(args, io);
  if (jsonOut === undefined) return code;
  try {
    await writeFileAtomic(path.resolve(outerIo.cwd, jsonOut), captured);
  } catch (e) {
    return reportError(outerIo, e, false);
  }
  if (code !== 0) {
    // The document holds the error; people (and Bazel's action log) read stderr.
    try {
      const doc = JSON.parse(captured) as {
        error?: { code: string; message: string; hint: string };
      };
      if (doc.error !== undefined) {
        outerIo.stderr(`ocikit: error ${doc.error.code}: ${doc.error.message}\n`);
        if (doc.error.hint !== '') outerIo.stderr(`  hint: ${doc.error.hint}\n`);
      }
    } catch {
      // not a single JSON document: nothing more to say
    }
  }
  return code;
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

async function runParsed(argv: readonly string[], io: CliIo): Promise<number> {
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
          exitCode = await c.handler(io, args as unknown as GlobalArgs & Record<string, unknown>);
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
