// The base check on an image of many layers, through the library (test/context.ts covers the
// defects on the small standard image, through prepareContexts and the CLI). The check's quick
// path (one lstat per blob, no wording) hands anything off to verify, which words it: a defect
// at the start, the middle or the end of 300 layers is found and worded alike, and with two
// defects the first in digest order is thrown and both are listed.
import {
  appendFileSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { checkBase, openLayout, resolveBase, type OcikitError } from '../src/index.js';
import { LayoutBuilder, tagged } from './helpers/layout-builder.js';
import { snapshotTree } from './helpers/tree.js';

const LAYERS = 300;
const LAYER = 'application/vnd.oci.image.layer.v1.tar';

/** A linux/amd64 image of LAYERS distinct small layers, tagged `big`. */
function bigLayout(dir: string): { manifest: string; layers: { digest: string; size: number }[] } {
  const b = new LayoutBuilder(dir);
  const layers = Array.from({ length: LAYERS }, (_, i) => b.blob(`layer ${i}\n`, LAYER));
  const manifest = b.manifestOver(layers);
  b.writeIndex([tagged(manifest, 'big')]);
  return { manifest: manifest.digest, layers };
}

const blobFile = (dir: string, digest: string) =>
  path.join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));

type Defect = (blob: string, elsewhere: string) => void;
const defects: { name: string; defect: Defect; code?: string }[] = [
  { name: 'missing', defect: (blob) => rmSync(blob), code: 'OCIKIT_BLOB_MISSING' },
  {
    name: 'wrong size',
    defect: (blob) => appendFileSync(blob, 'x'),
    code: 'OCIKIT_BLOB_SIZE_MISMATCH',
  },
  {
    name: 'a directory',
    defect: (blob) => {
      rmSync(blob);
      mkdirSync(blob);
    },
    code: 'OCIKIT_BLOB_NOT_FILE',
  },
  {
    name: 'symlinked out of the layout',
    defect: (blob, elsewhere) => {
      writeFileSync(path.join(elsewhere, 'not-a-blob'), readFileSync(blob));
      rmSync(blob);
      symlinkSync(path.join(elsewhere, 'not-a-blob'), blob);
    },
    code: 'OCIKIT_BLOB_SYMLINK_ESCAPES',
  },
  {
    name: 'a dangling symlink',
    defect: (blob, elsewhere) => {
      rmSync(blob);
      symlinkSync(path.join(elsewhere, 'gone'), blob);
    },
    code: 'OCIKIT_BLOB_MISSING',
  },
  {
    name: 'linked to the same blob of another layout (accepted)',
    defect: (blob, elsewhere) => {
      const other = path.join(elsewhere, 'blobs', 'sha256');
      mkdirSync(other, { recursive: true });
      writeFileSync(path.join(other, path.basename(blob)), readFileSync(blob));
      rmSync(blob);
      symlinkSync(path.join(other, path.basename(blob)), blob);
    },
  },
];

for (const where of ['first', 'middle', 'last'] as const) {
  for (const d of defects) {
    t.test(`a layer ${d.name}, ${where} of ${LAYERS}`, async (t) => {
      const root = t.testdir({ elsewhere: {} });
      const dir = path.join(root, 'layout');
      const { manifest, layers } = bigLayout(dir);
      const index = { first: 0, middle: LAYERS >> 1, last: LAYERS - 1 }[where];
      const layer = layers[index] as { digest: string; size: number };
      d.defect(blobFile(dir, layer.digest), path.join(root, 'elsewhere'));
      const before = snapshotTree(root);
      const layout = await openLayout(dir);
      const run = checkBase(layout, { digest: manifest, tag: 'big' }, { label: 'base' });
      if (d.code === undefined) {
        t.match(await run, { blobs: LAYERS + 2, digests: false });
      } else {
        const err = (await run.catch((e: unknown) => e)) as OcikitError;
        t.equal(err.code, d.code);
        t.match(err.message, /^base: blob /);
        t.match(err.message, layer.digest, 'names the blob');
        t.match(err.message, `manifest ${manifest}`, 'names the manifest');
        t.match(err.details, { digest: layer.digest, referencedBy: [{ parent: manifest }] });
      }
      t.same(snapshotTree(root), before, 'nothing written');
    });
  }
}

t.test('two defects: the first in digest order is thrown, both are listed', async (t) => {
  const root = t.testdir();
  const dir = path.join(root, 'layout');
  const { layers } = bigLayout(dir);
  const early = layers[3] as { digest: string };
  const late = layers[LAYERS - 3] as { digest: string };
  rmSync(blobFile(dir, late.digest));
  appendFileSync(blobFile(dir, early.digest), 'x');
  const err = (await resolveBase(await openLayout(dir), { tag: 'big' }).catch(
    (e: unknown) => e,
  )) as OcikitError;
  const first = early.digest < late.digest ? early : late;
  t.equal(err.code, first === early ? 'OCIKIT_BLOB_SIZE_MISMATCH' : 'OCIKIT_BLOB_MISSING');
  t.match(err.message, first.digest);
  t.match(err.message, '(and 1 more problem)');
  const problems = (err.details as { problems: { digest: string; code: string }[] }).problems;
  t.same(
    problems.map((p) => p.digest),
    [early.digest, late.digest].sort(),
    'every problem in details',
  );
});
