/** `ocikit resolve <layout>`: print the digest a tag/digest/platform selects. */
import path from 'node:path';
import { resolve } from '../../layout/resolve.js';
import { openFromArgs, selection, type GlobalArgs, type SelectionArgs } from '../common.js';
import type { InputPath, OutputSet } from '../../output/outputs.js';
import type { CliIo } from '../io.js';
import { printWarnings, stableJson } from '../output.js';

/** What the command reads: outputs are checked against these before any work. */
export function inputs(io: CliIo, args: SelectionArgs & { layout: string }): InputPath[] {
  return [{ path: path.resolve(io.cwd, args.layout), label: `layout ${args.layout}` }];
}

export async function handler(
  io: CliIo,
  args: GlobalArgs & SelectionArgs & { layout: string },
  outputs: OutputSet,
): Promise<number> {
  const layout = await openFromArgs(io, args.layout, args, outputs);
  const r = await resolve(layout, selection(args));
  if (args.json) {
    io.stdout(stableJson({ layout: args.layout, ...r, warnings: layout.warnings }));
  } else {
    printWarnings(io, layout.warnings);
    io.stdout(`${r.descriptor.digest}\n`);
  }
  return 0;
}
