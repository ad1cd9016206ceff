/**
 * The yargs parser built from spec.ts: help, usage errors and every spelling yargs accepts.
 * Loaded only when the fast parser (parse.ts) hands a command line over, so yargs costs
 * nothing on the paths Bazel actions and scripts take.
 */
import yargs, { type Argv, type Options, type PositionalOptions } from 'yargs';
import { ErrorCode, OcikitError } from '../errors.js';
import type { CliIo } from './io.js';
import { reportError } from './output.js';
import { COMMANDS, EPILOG, GLOBAL_OPTIONS, usage, type Args, type CommandSpec } from './spec.js';

function optionOf(o: (typeof GLOBAL_OPTIONS)[number], global = false): Options {
  const out: Options = { describe: o.describe };
  if (o.choices !== undefined) out.choices = [...o.choices];
  else out.type = o.type;
  if (o.default !== undefined) out.default = o.default;
  if (o.array === true) out.array = true;
  if (o.demand === true) out.demandOption = true;
  if (global) out.global = true;
  return out;
}

function builder(c: CommandSpec, y: Argv): Argv {
  let p = y;
  if (c.unknownOptionsAsArgs === true)
    p = p.parserConfiguration({ 'unknown-options-as-args': true });
  for (const pos of c.positionals) {
    const o: PositionalOptions = { type: 'string', describe: pos.describe };
    if (pos.array === true) o.array = true;
    if (pos.demand) o.demandOption = true;
    p = p.positional(pos.name, o);
  }
  for (const o of c.options) p = p.option(o.name, optionOf(o));
  for (const [cmd, what] of c.examples) p = p.example(cmd, what);
  const check = c.check;
  if (check !== undefined) p = p.check((a) => check(a as unknown as Args));
  return p;
}

/**
 * The parser, with `run(spec, args)` called for the command the command line names. Usage
 * errors are reported on `io` (as JSON with `--json`) and give exit code 2.
 */
export async function parseWithYargs(
  argv: readonly string[],
  io: CliIo,
  version: string,
  run: (c: CommandSpec, args: Args) => Promise<number>,
): Promise<number> {
  let exitCode: number | undefined;
  const wantsJson = argv.includes('--json');
  let parser = yargs([...argv])
    .scriptName('ocikit')
    .version(version)
    .strict()
    .exitProcess(false)
    .wrap(Math.min(100, process.stdout.columns ?? 100));
  for (const o of GLOBAL_OPTIONS) parser = parser.option(o.name, optionOf(o, true));
  parser = parser
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
    .epilog(EPILOG);
  for (const c of COMMANDS) {
    parser.command(
      usage(c),
      c.describe,
      (y) => builder(c, y),
      async (args) => {
        if (exitCode !== undefined) return; // a usage error was already reported
        exitCode = await run(c, args as unknown as Args);
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
