/** `ocikit index --out DIR SRC...`: combine images from several layouts into one image index. */
import path from 'node:path';
import type { Argv } from 'yargs';
import { parseLayoutRef } from '../../buildx/ref.js';
import { shortDigest } from '../../digest.js';
import { mergeIndex, parseIndexAnnotation, type MergeOptions } from '../../index-merge.js';
import { refInputs, type GlobalArgs } from '../common.js';
import type { InputPath, OutputSet } from '../../output/outputs.js';
import type { CliIo } from '../io.js';
import { printWarnings, stableJson, table } from '../output.js';

type IndexArgs = {
  sources: string[];
  out: string;
  annotation: string[];
  tag: string[];
  oci: boolean;
};

export const command = 'index <sources..>';
export const describe =
  'Combine images from several layouts into one new layout with an OCI image index';

export function builder<T>(y: Argv<T>): Argv<T & IndexArgs> {
  return y
    .positional('sources', {
      type: 'string',
      array: true,
      demandOption: true,
      describe: 'LAYOUT[:TAG|@DIGEST] (an image or an index; one per platform or several)',
    })
    .option('out', {
      type: 'string',
      demandOption: true,
      describe: 'Layout directory to create (new or empty); written atomically',
    })
    .option('annotation', {
      type: 'string',
      array: true,
      default: [],
      describe:
        'Index annotation KEY=VALUE (index-descriptor:KEY=VALUE for the index.json entry); repeatable',
    })
    .option('tag', {
      type: 'string',
      array: true,
      default: [],
      describe: 'Tag of the new index (org.opencontainers.image.ref.name); repeatable',
    })
    .option('oci', {
      type: 'boolean',
      default: false,
      describe: 'Convert Docker manifests to OCI media types (needed for annotations)',
    })
    .example(
      '$0 index --out ./multi ./amd64:app ./arm64:app --tag app --annotation org.opencontainers.image.version=1.2',
      'one index over two per-platform layouts',
    ) as unknown as Argv<T & IndexArgs>;
}

/** What the command reads: outputs are checked against these before any work. */
export function inputs(io: CliIo, args: IndexArgs): InputPath[] {
  return args.sources.flatMap((s) => refInputs(io, s, `source ${s}`));
}

export async function handler(
  io: CliIo,
  args: GlobalArgs & IndexArgs,
  outputs: OutputSet,
): Promise<number> {
  const annotations: Record<string, string> = {};
  const descriptorAnnotations: Record<string, string> = {};
  for (const raw of args.annotation) {
    const a = parseIndexAnnotation(raw);
    (a.target === 'index' ? annotations : descriptorAnnotations)[a.key] = a.value;
  }
  const options: MergeOptions = {
    cwd: io.cwd,
    annotations,
    descriptorAnnotations,
    tags: args.tag,
    oci: args.oci,
    strict: args.strict,
    outputs,
  };
  await outputs.addInputs(
    args.sources.flatMap((s) => {
      const candidates = new Set([s, parseLayoutRef(s, `source ${s}`).path]);
      return [...candidates].map((p) => ({ path: path.resolve(io.cwd, p), label: `source ${s}` }));
    }),
  );
  const out = path.resolve(io.cwd, args.out);
  await outputs.declare('--out', out, 'dir');
  const result = await mergeIndex(args.sources, out, options);
  if (args.json) {
    io.stdout(stableJson({ ...result, out: args.out }));
    return 0;
  }
  printWarnings(io, result.warnings);
  const rows = [['PLATFORM', 'MANIFEST', 'SOURCE']];
  for (const m of result.manifests) {
    rows.push([
      m.attestation ? 'attestation' : (m.platform ?? '-'),
      `${shortDigest(m.digest)}${m.convertedFrom !== undefined ? ` (was ${shortDigest(m.convertedFrom)})` : ''}`,
      m.source,
    ]);
  }
  io.stderr(table(rows));
  const b = result.blobs;
  io.stderr(
    `ocikit: ${b.total} blobs: ${b.linked} hardlinked, ${b.copied} copied and verified, ${b.written} written\n`,
  );
  io.stdout(`${result.descriptor.digest}\n`);
  return 0;
}
