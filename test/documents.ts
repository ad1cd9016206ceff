/**
 * The process's memory of documents (src/layout/documents.ts): what a persistent worker keeps
 * between requests must never change what a request sees — warnings and --strict as for a
 * fresh process, a changed file found, nothing shared that can be changed, memory bounded.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Documents } from '../src/layout/documents.js';
import { openLayout } from '../src/layout/layout.js';
import { Lenience } from '../src/layout/schema.js';
import { LayoutBuilder, OCI_CONFIG, OCI_MANIFEST, tagged } from './helpers/layout-builder.js';

/** A layout whose manifest has `"layers": null` (a tolerated deviation); `salt` makes it unique. */
function nullLayers(dir: string, salt: string) {
  const b = new LayoutBuilder(dir);
  const config = b.json(
    { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, salt },
    OCI_CONFIG,
  );
  const manifest = b.json(
    { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: null },
    OCI_MANIFEST,
  );
  b.writeIndex([tagged(manifest, 'app')]);
  return manifest;
}

t.test('deviations reach every reader, lenient or --strict, in either order', async (t) => {
  for (const order of [
    [false, true, false],
    [true, false, true],
  ]) {
    const dir = t.testdir();
    const manifest = nullLayers(dir, order.join());
    for (const strict of order) {
      const layout = await openLayout(dir, { strict });
      if (strict) {
        await t.rejects(layout.readManifest(manifest), {
          code: 'OCIKIT_SCHEMA_INVALID',
          message: /"layers" is null; read as an empty list \(rejected by --strict\)/,
        });
      } else {
        const m = await layout.readManifest(manifest);
        t.same(m.layers, []);
        t.same(
          layout.warnings.map((w) => w.code),
          ['OCIKIT_W_NULL_LIST'],
          `lenient after ${order.join(',')}`,
        );
      }
    }
  }
});

t.test('what is kept is frozen', async (t) => {
  const dir = t.testdir();
  const manifest = nullLayers(dir, 'frozen');
  const layout = await openLayout(dir);
  const m = await layout.readManifest(manifest);
  t.ok(Object.isFrozen(m) && Object.isFrozen(m.config) && Object.isFrozen(m.layers));
  t.throws(() => (m.layers as unknown[]).push(1), TypeError);
  const raw = (await layout.readJsonBlob(manifest)).value as Record<string, unknown>;
  t.ok(Object.isFrozen(raw) && Object.isFrozen(raw['config']));
  t.equal((await (await openLayout(dir)).readManifest(manifest)) === m, true, 'shared');
});

t.test(
  'a file changed since it was kept is found: digests are checked on every read',
  async (t) => {
    const dir = t.testdir();
    const manifest = nullLayers(dir, 'changed');
    await (await openLayout(dir)).readManifest(manifest);
    const file = path.join(dir, 'blobs', 'sha256', manifest.digest.slice(7));
    // Same size, other bytes: `null` → `[  ]`.
    const bytes = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: (await (await openLayout(dir)).readManifest(manifest)).config,
      layers: null,
    }).replace('"layers":null', '"layers":[  ]');
    t.equal(Buffer.byteLength(bytes), manifest.size);
    writeFileSync(file, bytes);
    await t.rejects((await openLayout(dir)).readManifest(manifest), {
      code: 'OCIKIT_BLOB_DIGEST_MISMATCH',
    });
  },
);

t.test('memory is bounded: least recently used documents go first', async (t) => {
  const docs = new Documents(1000);
  const doc = (n: number) => ({ n });
  for (const [k, n] of [
    ['a', 1],
    ['b', 2],
    ['c', 3],
    ['d', 4],
  ] as const)
    docs.keepJson(k, doc(n), 240);
  t.same(docs.jsonOf('a'), { n: 1 }, 'a used: now the most recent');
  docs.keepJson('e', doc(5), 240);
  t.equal(docs.jsonOf('b'), undefined, 'b went');
  t.same(
    ['a', 'c', 'd', 'e'].map((k) => docs.jsonOf(k)),
    [{ n: 1 }, { n: 3 }, { n: 4 }, { n: 5 }],
  );
  const big = doc(6);
  t.equal(docs.keepJson('f', big, 251), big);
  t.equal(docs.jsonOf('f'), undefined, 'a document over a quarter of the bound is not kept');
  t.notOk(Object.isFrozen(big));
});

t.test('a document that fails to validate throws what a direct parse throws', async (t) => {
  const docs = new Documents(1000);
  const json = Object.freeze({ layers: null, config: 7 });
  const parse = (l: Lenience) => {
    l.deviation('OCIKIT_W_NULL_LIST', 'layers null');
    throw new Error('config must be an object');
  };
  t.throws(() => docs.validate(json, 'manifest', new Lenience(true), parse), {
    message: 'layers null (rejected by --strict)',
  });
  const lenient = new Lenience(false);
  t.throws(() => docs.validate(json, 'manifest', lenient, parse), {
    message: 'config must be an object',
  });
  t.same(lenient.warnings, [{ code: 'OCIKIT_W_NULL_LIST', message: 'layers null' }]);
});
