/** `ocikit index --out DIR SRC...`: combine images from several layouts into one image index. */
import path from 'node:path';
import { parseLayoutRef } from '../../layout/reference.js';
import { shortDigest } from '../../layout/digest.js';
import { mergeIndex, parseIndexAnnotation, type MergeOptions } from '../../ops/index-merge.js';
import { outputPath, refInputs, type GlobalArgs } from '../common.js';
import type { InputPath, OutputSet } from '../../output/outputs.js';
import type { LinkMode } from '../../ops/take-blobs.js';
import type { CliIo } from '../io.js';
import { printWarnings, stableJson, table } from '../output.js';

type IndexArgs = {
  sources: string[];
  out: string;
  annotation: string[];
  tag: string[];
  oci: boolean;
  link: LinkMode;
  'trust-inputs': boolean;
};

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
    link: args.link,
    trustInputs: args['trust-inputs'],
  };
  await outputs.addInputs(
    args.sources.flatMap((s) => {
      const candidates = new Set([s, parseLayoutRef(s, `source ${s}`).path]);
      return [...candidates].map((p) => ({ path: path.resolve(io.cwd, p), label: `source ${s}` }));
    }),
  );
  const out = outputPath(io, args.out);
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
  const check = args['trust-inputs'] ? 'size-checked (--trust-inputs)' : 'verified';
  io.stderr(
    `ocikit: ${b.total} blobs: ${b.copied} copied (reflink where the file system supports it) and ${check}, ${b.linked} hardlinked${b.linked > 0 ? ` and ${args['trust-inputs'] ? 'size-checked' : 'verified'}` : ''}, ${b.written} written\n`,
  );
  io.stdout(`${result.descriptor.digest}\n`);
  return 0;
}
