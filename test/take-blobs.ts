/**
 * take-blobs: copies (or hardlinks), verified where the output holds them; failures coded by
 * cause and side. The merge-level promises (inputs untouched, nothing left, EMFILE under
 * ulimit) are in test/index-merge.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parseDigest } from '../src/layout/digest.js';
import { takeBlobs, type BlobToTake } from '../src/ops/take-blobs.js';

function blob(dir: string, content: string, out: string): BlobToTake {
  const hex = createHash('sha256').update(content).digest('hex');
  const from = path.join(dir, hex);
  writeFileSync(from, content);
  return {
    digest: parseDigest(`sha256:${hex}`),
    size: Buffer.byteLength(content),
    from,
    to: path.join(out, hex),
    source: 'src:app',
    relPath: `blobs/sha256/${hex}`,
    manifest: `sha256:${'1'.repeat(64)}`,
  };
}

/** A source directory and output directories `out`, `out2`, ... under one test directory. */
function dirs(t: { testdir(): string }): { src: string; out: string; out2: string } {
  const root = t.testdir();
  const [src, out, out2] = ['src', 'out', 'out2'].map((d) => path.join(root, d)) as [
    string,
    string,
    string,
  ];
  for (const d of [src, out, out2]) mkdirSync(d);
  return { src, out, out2 };
}

t.test('copies by default, hardlinks on request, results in order', async (t) => {
  const { src, out, out2 } = dirs(t);
  const a = blob(src, 'a', out);
  const b = blob(src, 'bb', out);
  t.same(await takeBlobs([a, b]), ['copied', 'copied']);
  t.not(statSync(a.to).ino, statSync(a.from).ino);
  const c = { ...a, to: path.join(out2, 'a') };
  t.same(await takeBlobs([c], { link: 'hard' }), ['linked']);
  t.equal(statSync(c.to).ino, statSync(c.from).ino);
  t.same(await takeBlobs([]), []);
});

t.test('verification: digest and size, unless trusted (size only)', async (t) => {
  const { src, out, out2 } = dirs(t);
  const a = blob(src, 'a', out);
  writeFileSync(a.from, 'b'); // same size, other bytes
  await t.rejects(takeBlobs([a]), {
    code: 'OCIKIT_BLOB_DIGEST_MISMATCH',
    details: { digest: a.digest.value, source: 'src:app', manifest: a.manifest, path: a.relPath },
  });
  t.same(await takeBlobs([{ ...a, to: path.join(out2, 'a') }], { trustInputs: true }), ['copied']);
  writeFileSync(a.from, 'ab');
  await t.rejects(takeBlobs([{ ...a, to: path.join(out2, 'b') }], { trustInputs: true }), {
    code: 'OCIKIT_BLOB_SIZE_MISMATCH',
  });
  await t.rejects(takeBlobs([{ ...a, to: path.join(out2, 'c') }]), {
    code: 'OCIKIT_BLOB_SIZE_MISMATCH',
  });
});

t.test('errno failures are coded by side: reading the source, writing the copy', async (t) => {
  const { src, out } = dirs(t);
  const a = blob(src, 'a', out);
  for (const link of ['copy', 'hard'] as const) {
    await t.rejects(
      takeBlobs([{ ...a, from: path.join(src, 'gone') }], { link }),
      { code: 'OCIKIT_INPUT_UNREADABLE', details: { side: 'input', errno: 'ENOENT' } },
      `${link}: a source that vanished`,
    );
    await t.rejects(
      takeBlobs([{ ...a, to: path.join(out, 'no-such-dir', 'a') }], { link }),
      { code: 'OCIKIT_OUT_INVALID', details: { side: 'output', errno: 'ENOENT' } },
      `${link}: an output directory that vanished`,
    );
  }
  writeFileSync(path.join(out, 'taken'), 'x');
  await t.rejects(
    takeBlobs([{ ...a, to: path.join(out, 'taken') }]),
    { code: 'OCIKIT_OUT_INVALID', details: { side: 'output', errno: 'EEXIST' } },
    'never overwrites',
  );
});

t.test('a failure stops new copies; the ones in flight finish first', async (t) => {
  const { src, out } = dirs(t);
  const many = Array.from({ length: 200 }, (_, i) => blob(src, `blob ${i}`, out));
  many.splice(3, 0, { ...blob(src, 'x', out), from: path.join(src, 'gone') });
  await t.rejects(takeBlobs(many, { concurrency: 4 }), { code: 'OCIKIT_INPUT_UNREADABLE' });
  const placed = many.filter((b) => existsSync(b.to)).length;
  t.ok(placed < 200, `stopped early (${placed} of 200 copied)`);
});
