/** `ocikit unpack <archive> --out DIR`: safe extraction of an OCI archive into a new layout. */
import path from 'node:path';
import type { Argv } from 'yargs';
import { DEFAULT_MAX_BYTES } from '../../archive/limits.js';
import { unpackArchive, type UnpackOptions } from '../../archive/unpack.js';
import { ErrorCode, OcikitError } from '../../errors.js';
import { parseByteSize } from '../byte-size.js';
import { outputPath, type GlobalArgs } from '../common.js';
import type { InputPath, OutputSet } from '../../output/outputs.js';
import type { CliIo } from '../io.js';
import { humanBytes, printWarnings, stableJson } from '../output.js';
import { progressBar } from '../progress.js';

type UnpackArgs = { archive: string; out: string; 'max-bytes'?: string | string[] };

export const command = 'unpack <archive>';
export const describe =
  'Extract an OCI archive (.tar, .tar.gz) into a new layout, refusing anything unsafe';

export function builder<T>(y: Argv<T>): Argv<T & UnpackArgs> {
  return y
    .positional('archive', {
      type: 'string',
      demandOption: true,
      describe: 'OCI archive: ocikit pack, skopeo oci-archive:, buildx --output type=oci,dest=',
    })
    .option('out', {
      type: 'string',
      demandOption: true,
      describe:
        'Layout directory to create (new or empty); appears only when everything checked out',
    })
    .option('max-bytes', {
      type: 'string',
      describe: `Refuse an archive larger than this uncompressed: bytes, or with K, M, G, T (powers of 1024). Default ${DEFAULT_MAX_BYTES / 2 ** 30}G`,
    })
    .example(
      '$0 unpack image.tar --out ./layout',
      'every blob hashed while it streams',
    ) as unknown as Argv<T & UnpackArgs>;
}

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
