/** `ocikit unpack <archive> --out DIR`: safe extraction of an OCI archive into a new layout. */
import path from 'node:path';
import { unpackArchive, type UnpackOptions } from '../../archive/unpack.js';
import { ErrorCode, OcikitError } from '../../errors.js';
import { parseByteSize } from '../byte-size.js';
import { outputPath, type GlobalArgs } from '../common.js';
import type { InputPath, OutputSet } from '../../output/outputs.js';
import type { CliIo } from '../io.js';
import { humanBytes, printWarnings, stableJson } from '../output.js';
import { progressBar } from '../progress.js';

type UnpackArgs = { archive: string; out: string; 'max-bytes'?: string | string[] };

/** What the command reads: outputs are checked against these before any work. */
export function inputs(io: CliIo, args: UnpackArgs): InputPath[] {
  return [{ path: path.resolve(io.cwd, args.archive), label: `archive ${args.archive}` }];
}

export async function handler(
  io: CliIo,
  args: GlobalArgs & UnpackArgs,
  outputs: OutputSet,
): Promise<number> {
  if (args.archive === '')
    throw new OcikitError(ErrorCode.Usage, 'an archive file is required', {
      hint: 'Pass FILE.tar or FILE.tar.gz.',
    });
  const options: UnpackOptions = { strict: args.strict, name: args.archive };
  const maxBytes = args['max-bytes'];
  if (Array.isArray(maxBytes))
    throw new OcikitError(ErrorCode.Usage, '--max-bytes is given more than once', {
      hint: 'Pass one --max-bytes.',
    });
  if (maxBytes !== undefined) options.maxBytes = parseByteSize(maxBytes, '--max-bytes');
  const bar = progressBar(io, 'unpack');
  const result = await unpackArchive(path.resolve(io.cwd, args.archive), outputPath(io, args.out), {
    ...options,
    onProgress: bar.update,
    outputs,
  });
  bar.finish();
  if (args.json) {
    io.stdout(stableJson({ ...result, archive: args.archive, out: args.out }));
    return 0;
  }
  printWarnings(io, result.warnings);
  for (const s of result.skipped) io.stderr(`ocikit: skipped ${s} (not part of an OCI layout)\n`);
  io.stderr(
    `ocikit: unpacked ${result.blobs} blobs (${humanBytes(result.bytes)}), every digest checked\n`,
  );
  io.stdout(`${args.out}\n`);
  return 0;
}
