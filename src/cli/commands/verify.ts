/** `ocikit verify <layout>`: every reachable blob present, right size and digest. */
import path from 'node:path';
import { verifyLayout, type VerifyOptions } from '../../layout/verify.js';
import { openFromArgs, selection, type GlobalArgs, type SelectionArgs } from '../common.js';
import type { InputPath, OutputSet } from '../../output/outputs.js';
import type { CliIo } from '../io.js';
import { humanBytes, printWarnings, stableJson } from '../output.js';
import { progressBar } from '../progress.js';

type VerifyArgs = SelectionArgs & { layout: string; digests: boolean; jobs?: number };

/** What the command reads: outputs are checked against these before any work. */
export function inputs(io: CliIo, args: VerifyArgs): InputPath[] {
  return [{ path: path.resolve(io.cwd, args.layout), label: `layout ${args.layout}` }];
}

export async function handler(
  io: CliIo,
  args: GlobalArgs & VerifyArgs,
  outputs: OutputSet,
): Promise<number> {
  const layout = await openFromArgs(io, args.layout, args, outputs);
  const bar = progressBar(io, 'verify');
  const options: VerifyOptions = {
    ...selection(args),
    noDigests: !args.digests,
    onProgress: bar.update,
  };
  if (args.jobs !== undefined) options.workers = args.jobs;
  // A cancelled worker request (or a signal) stops the hashing (OCIKIT_INTERRUPTED).
  if (args.digests) options.signal = outputs.signal;
  const report = await verifyLayout(layout, options);
  bar.finish();
  if (args.json) {
    io.stdout(stableJson({ layout: args.layout, ...report }));
  } else {
    printWarnings(io, report.warnings);
    for (const p of report.problems) {
      io.stdout(`${p.code}: ${p.message}\n`);
      if (p.hint !== '') io.stdout(`  hint: ${p.hint}\n`);
    }
    const what = `${report.blobs} blobs, ${humanBytes(report.bytes)}${report.digests ? '' : ' (sizes only, digests not checked)'}`;
    io.stdout(
      report.ok
        ? `ok: ${what}\n`
        : `FAILED: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} in ${what}\n`,
    );
  }
  return report.ok ? 0 : 1;
}
