/** `ocikit inspect <layout>`: tags, manifests, platforms, layers, sizes, annotations. */
import path from 'node:path';
import { shortDigest } from '../../layout/digest.js';
import { inspectLayout } from '../../layout/inspect.js';
import { Annotation } from '../../layout/media-types.js';
import { openFromArgs, type GlobalArgs } from '../common.js';
import type { InputPath, OutputSet } from '../../output/outputs.js';
import type { CliIo } from '../io.js';
import { humanBytes, printWarnings, stableJson, table } from '../output.js';

/** What the command reads: outputs are checked against these before any work. */
export function inputs(io: CliIo, args: { layout: string }): InputPath[] {
  return [{ path: path.resolve(io.cwd, args.layout), label: `layout ${args.layout}` }];
}

export async function handler(
  io: CliIo,
  args: GlobalArgs & { layout: string },
  outputs: OutputSet,
): Promise<number> {
  const layout = await openFromArgs(io, args.layout, args, outputs);
  const summary = await inspectLayout(layout);
  if (args.json) {
    io.stdout(stableJson({ layout: args.layout, ...summary }));
    return 0;
  }
  printWarnings(io, summary.warnings);
  const rows: string[][] = [['TAG', 'DIGEST', 'TYPE', 'PLATFORM', 'MANIFEST', 'LAYERS', 'SIZE']];
  for (const img of summary.images) {
    const tag = img.tags.join(',') || '<none>';
    const artifact = img.kind === 'manifest' && img.manifests[0]?.artifactType !== undefined;
    const kind =
      img.kind === 'index'
        ? 'index'
        : img.kind === 'manifest'
          ? artifact
            ? 'artifact'
            : 'image'
          : img.mediaType;
    if (img.manifests.length === 0)
      rows.push([tag, shortDigest(img.digest), kind, '-', '-', '-', '-']);
    img.manifests.forEach((m, i) => {
      rows.push([
        i === 0 ? tag : '',
        i === 0 ? shortDigest(img.digest) : '',
        i === 0 ? kind : '',
        // An artifact without a platform says what it is instead.
        m.attestation
          ? 'attestation'
          : m.artifactType !== undefined && m.platform === 'unknown/unknown'
            ? m.artifactType
            : m.platform,
        shortDigest(m.digest),
        String(m.layers),
        humanBytes(m.layerBytes),
      ]);
    });
  }
  io.stdout(table(rows));
  const own = Object.entries(summary.annotations).sort(([a], [b]) => (a < b ? -1 : 1));
  if (own.length > 0) {
    io.stdout('\nindex.json annotations:\n');
    for (const [k, v] of own) io.stdout(`  ${k}=${v}\n`);
  }
  for (const img of summary.images) {
    const shown = Object.entries({ ...img.contentAnnotations, ...img.annotations })
      .filter(([k]) => k !== Annotation.RefName && k !== Annotation.ContainerdImageName)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    if (shown.length === 0) continue;
    io.stdout(`\n${img.tags.join(',') || shortDigest(img.digest)} annotations:\n`);
    for (const [k, v] of shown) io.stdout(`  ${k}=${v}\n`);
  }
  return 0;
}
