import { createHash } from 'node:crypto';
import t from 'tap';
import { digestBytes } from '../src/layout/layout.js';
import { sha256Hex } from '../src/layout/sha256.js';
import {
  HASH_ALGORITHMS,
  blobRelPath,
  isHashable,
  parseDigest,
  shortDigest,
} from '../src/layout/digest.js';
import { OcikitError } from '../src/errors.js';

const caught = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

const HEX_EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const HEX64 = '2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae';
const HEX128 =
  'f7fbba6e0636f890e56fbbf3283e524c6fa3204ae298382d624741d0dc6638326e282c41be5e4254d8820772c5518a2c5a8c0c7f7eda19594a7eb539453e1ed7';

t.test('registered algorithms: lowercase hex of the right length', async (t) => {
  t.same(parseDigest(`sha256:${HEX64}`), {
    value: `sha256:${HEX64}`,
    algorithm: 'sha256',
    encoded: HEX64,
  });
  t.same(parseDigest(`sha512:${HEX128}`), {
    value: `sha512:${HEX128}`,
    algorithm: 'sha512',
    encoded: HEX128,
  });
  t.same(HASH_ALGORITHMS, { sha256: 64, sha512: 128 });
  t.ok(isHashable('sha256'));
  t.ok(isHashable('sha512'));
  t.notOk(isHashable('md5'));
  t.notOk(isHashable('constructor'), 'only own keys');
  t.notOk(isHashable('__proto__'));
});

t.test('unregistered algorithms only need the grammar', async (t) => {
  for (const value of [
    'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564',
    'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8',
    'md5:d41d8cd98f00b204e9800998ecf8427e',
    'blake3:ABC=',
    'a.b_c-d:x',
    'constructor:abc', // was looked up on Object.prototype and rejected with a garbled message
    'tostring:abc',
  ]) {
    t.equal(parseDigest(value).value, value, value);
  }
});

t.test('invalid digests are rejected before they become paths', async (t) => {
  const bad: [unknown, RegExp][] = [
    ['sha256:../../x', /does not match/],
    ['sha256:..', /does not match/],
    ['sha256:a/b', /does not match/],
    ['../sha256:abc', /does not match/],
    [`sha256:${HEX64.toUpperCase()}`, /sha256 needs 64 lowercase hex/],
    [`sha256:${HEX64.slice(1)}`, /sha256 needs 64/],
    [`sha256:${HEX64}0`, /sha256 needs 64/],
    [`sha512:${HEX64}`, /sha512 needs 128/],
    [`sha256:${HEX64.slice(0, 63)}g`, /sha256 needs 64/],
    [`sha256:${HEX64}\n`, /does not match/],
    [` sha256:${HEX64}`, /does not match/],
    [`SHA256:${HEX64}`, /does not match/],
    ['sha256:', /does not match/],
    [`:${HEX64}`, /does not match/],
    [HEX64, /does not match/],
    ['', /does not match/],
    ['sha256-:abc', /does not match/],
    ['sha256::abc', /does not match/],
    ['sha256:abc\u0000', /does not match/],
    [`x:${'a'.repeat(1100)}`, /too long/],
    [42, /not a string/],
    [null, /not a string/],
    [undefined, /not a string/],
    [{ digest: `sha256:${HEX64}` }, /not a string/],
  ];
  for (const [value, why] of bad) {
    const err = caught(() => parseDigest(value, 'manifest.layers[2].digest'));
    t.ok(err instanceof OcikitError, `${JSON.stringify(value)?.slice(0, 40)} rejected`);
    t.match(err, { code: 'OCIKIT_DIGEST_INVALID', message: why, hint: /sha256:<64 lowercase hex/ });
    t.match(err, { message: /^manifest\.layers\[2\]\.digest: / }, 'names where it came from');
  }
  t.match(
    caught(() => parseDigest('sha256:../../x')),
    { details: { digest: 'sha256:../../x' } },
  );
  t.match(
    caught(() => parseDigest(7)),
    { details: { digest: null } },
  );
  const long = caught(() => parseDigest(`x:${'a'.repeat(5000)}`)) as Error;
  t.ok(long.message.length < 400, 'long input is not echoed in full');
});

t.test('blob paths and short digests', async (t) => {
  t.equal(blobRelPath(parseDigest(`sha256:${HEX64}`)), `blobs/sha256/${HEX64}`);
  t.equal(blobRelPath(parseDigest('multihash+base58:Qm')), 'blobs/multihash+base58/Qm');
  t.equal(shortDigest(`sha256:${HEX64}`), HEX64.slice(0, 12));
  t.equal(shortDigest(HEX64), HEX64.slice(0, 12));
});

t.test('sha256.ts agrees with node:crypto', async (t) => {
  // Every length around the block and padding boundaries, and larger documents, seeded bytes.
  let seed = 12345;
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      b[i] = seed >>> 24;
    }
    return b;
  };
  const node = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
  const wrong: number[] = [];
  for (let n = 0; n <= 200; n++) {
    const b = bytes(n);
    if (sha256Hex(b) !== node(b)) wrong.push(n);
  }
  for (const n of [447, 448, 511, 512, 4095, 4096, 16383, 16384, 16385, 100_000]) {
    const b = bytes(n);
    if (sha256Hex(b) !== node(b)) wrong.push(n);
  }
  t.same(wrong, [], 'same digest for every length tried');
  t.equal(sha256Hex(new Uint8Array()), HEX_EMPTY);
  // digestBytes: sha256.ts for small documents, node:crypto for larger ones and other algorithms.
  for (const n of [10, 16 * 1024, 16 * 1024 + 1, 70_000]) {
    const b = bytes(n);
    t.equal(digestBytes('sha256', b), `sha256:${node(b)}`, `digestBytes sha256, ${n} bytes`);
  }
  const b = bytes(10);
  t.equal(digestBytes('sha512', b), `sha512:${createHash('sha512').update(b).digest('hex')}`);
});
