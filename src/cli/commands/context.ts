/** `ocikit context NAME=LAYOUT[:TAG|@DIGEST]...`: prepare read-only-safe oci-layout build contexts. */
import { refNotFound, resolveLayoutRef } from '../../layout/reference.js';
import { prepareContexts, type ContextRequest, type PrepareOptions } from '../../ops/context.js';
import { ErrorCode, OcikitError } from '../../errors.js';
import { buildxVersionFromArgs, maxBytesFromArgs, type BuildxArgs } from '../buildx-options.js';
import { knownPlatformArg, outputPath, refInputs, type GlobalArgs } from '../common.js';
import type { InputPath, OutputSet } from '../../output/outputs.js';
import type { CliIo } from '../io.js';
import { printStrategies, printWarnings, stableJson } from '../output.js';

type ContextArgs = BuildxArgs & { contexts: string[]; platform?: string; verify: boolean };

/**
 * Parse `NAME=LAYOUT[:TAG][@DIGEST]`, splitting LAYOUT where it names an existing layout
 * directory or archive (see resolveLayoutRef).
 */
export async function parseContextArg(arg: string, cwd: string): Promise<ContextRequest> {
  const eq = arg.indexOf('=');
  if (eq <= 0) {
    throw new OcikitError(
      ErrorCode.ContextInvalid,
      `${JSON.stringify(arg)} is not NAME=LAYOUT[:TAG|@DIGEST]`,
      {
        hint: 'For example: base=./layout:latest or base=oci-layout:///abs/layout@sha256:...',
      },
    );
  }
  const name = arg.slice(0, eq);
  const value = arg.slice(eq + 1).replace(/^oci-layout:\/\//, '');
  const found = await resolveLayoutRef(value, cwd, `context ${name}`);
  if (found === undefined) throw refNotFound(value, `context ${name}`);
  return { name, ref: found.ref };
}

/** What the command reads: outputs are checked against these before any work. */
export function inputs(io: CliIo, args: ContextArgs): InputPath[] {
  return args.contexts.flatMap((c) => {
    const eq = c.indexOf('=');
    return eq > 0 ? refInputs(io, c.slice(eq + 1), `layout of context ${c.slice(0, eq)}`) : [];
  });
}

export async function handler(
  io: CliIo,
  args: GlobalArgs & ContextArgs,
  outputs: OutputSet,
): Promise<number> {
  const requests: ContextRequest[] = [];
  for (const c of args.contexts) requests.push(await parseContextArg(c, io.cwd));
  const options: PrepareOptions = {
    cwd: io.cwd,
    mode: args.mode,
    strict: args.strict,
    outputs,
    verify: args.verify,
  };
  const maxBytes = maxBytesFromArgs(args);
  if (maxBytes !== undefined) options.maxBytes = maxBytes;
  const buildx = await buildxVersionFromArgs(io, args, outputs);
  if (buildx !== undefined) options.buildx = buildx;
  if (args.out !== undefined) options.out = outputPath(io, args.out);
  if (args.platform !== undefined) options.platform = knownPlatformArg(args.platform, args);
  const prepared = await prepareContexts(requests, options);
  if (args.json) {
    io.stdout(stableJson(prepared));
    return 0;
  }
  printWarnings(io, prepared.warnings);
  printStrategies(io, prepared.contexts);
  for (const c of prepared.contexts) io.stdout(`${c.name}=${c.value}\n`);
  return 0;
}
