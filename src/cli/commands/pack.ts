/** `ocikit pack <layout> --out FILE.tar [--gzip]`: a byte-identical OCI archive of a layout. */
import path from 'node:path';
import { packLayout, type PackOptions } from '../../archive/pack.js';
import { openFromArgs, outputPath, type GlobalArgs } from '../common.js';
import type { InputPath, OutputSet } from '../../output/outputs.js';
import type { CliIo } from '../io.js';
import { humanBytes, printWarnings, stableJson } from '../output.js';
import { progressBar } from '../progress.js';

type PackArgs = {
  layout: string;
  out: string;
  gzip: boolean;
  'gzip-level': number;
  verify: boolean;
  'docker-manifest': boolean;
};

/** What the command reads: outputs are checked against these before any work. */
export function inputs(io: CliIo, args: PackArgs): InputPath[] {
  return [{ path: path.resolve(io.cwd, args.layout), label: `layout ${args.layout}` }];
}

export async function handler(
  io: CliIo,
  args: GlobalArgs & PackArgs,
  outputs: OutputSet,
): Promise<number> {
  const layout = await openFromArgs(io, args.layout, args, outputs);
  const bar = progressBar(io, 'pack');
  const options: PackOptions = {
    gzip: args.gzip,
    gzipLevel: args['gzip-level'],
    verifyDigests: args.verify,
    dockerManifest: args['docker-manifest'],
    onProgress: bar.update,
    outputs,
  };
  const result = await packLayout(layout, outputPath(io, args.out), options);
  bar.finish();
  if (args.json) {
    io.stdout(
      stableJson({ ...result, layout: args.layout, out: args.out, warnings: layout.warnings }),
    );
    return 0;
  }
  printWarnings(io, layout.warnings);
  for (const s of result.docker?.skipped ?? [])
    io.stderr(
      `ocikit: not in manifest.json (docker load on the classic image store): ${s.digest}, ${s.why}\n`,
    );
  io.stderr(
    `ocikit: packed ${result.blobs} blobs (${humanBytes(result.contentBytes)}) into ${args.out} (${humanBytes(result.archiveBytes)})\n`,
  );
  io.stdout(`${args.out}\n`);
  return 0;
}
