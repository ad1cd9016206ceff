/**
 * Hostile inputs for `ocikit unpack` and `ocikit index`: each case is run through the CLI
 * (in process, --json) and must fail with its coded error, exit 1, and leave nothing behind:
 * no --out, no temporary sibling, and nothing written anywhere else (a link target outside,
 * a file beside the destination).
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { cli } from './helpers/cli.js';
import { paxEntry, sha256, tar, validEntries, type RawEntry } from './helpers/raw-tar.js';
import {
  LayoutBuilder,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  standardLayout,
  tagged,
} from './helpers/layout-builder.js';

// ---- the runner ------------------------------------------------------------------------

/** Every path under `root` with its type, mode and content hash (directory mtimes change when a temporary sibling comes and goes, so they are left out). */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(root, rel);
    const st = lstatSync(abs);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out.push(`${rel} ${mode} -> ${readlinkSync(abs)}`);
    else if (st.isDirectory()) {
      out.push(`${rel}/ ${mode}`);
      for (const name of readdirSync(abs).sort()) walk(rel === '' ? name : `${rel}/${name}`);
    } else out.push(`${rel} ${mode} ${sha256(readFileSync(abs))}`);
  };
  walk('');
  return out;
}

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

interface Outcome {
  code: number;
  error: { code: string; message: string };
}

async function expectFailure(
  t: Test,
  args: string[],
  cwd: string,
  code: string,
  watch: string[] = [cwd],
): Promise<Outcome> {
  const before = watch.map((d) => listing(d));
  const r = await cli([...args, '--json'], cwd);
  let doc: { error?: { code: string; message: string } } = {};
  try {
    doc = JSON.parse(r.stdout) as typeof doc;
  } catch {
    t.fail(`stdout is not JSON: ${r.stdout}${r.stderr}`);
  }
  t.equal(doc.error?.code, code, doc.error?.message ?? r.stdout);
  t.equal(r.code, code === 'OCIKIT_USAGE' ? 2 : 1, 'exit code');
  watch.forEach((d, i) =>
    t.same(
      listing(d),
      before[i],
      `nothing written under ${path.basename(d)} (no --out, no temporary sibling)`,
    ),
  );
  return { code: r.code, error: doc.error ?? { code: '', message: '' } };
}

/** Write the archive, unpack it to `out`, and expect `code`. */
async function unpackCase(
  t: Test,
  bytes: Buffer,
  code: string,
  options: { gzip?: boolean; out?: string } = {},
): Promise<Outcome> {
  const root = t.testdir({ outside: {} });
  const file = path.join(root, options.gzip ? 'hostile.tar.gz' : 'hostile.tar');
  writeFileSync(file, options.gzip ? gzipSync(bytes) : bytes);
  return expectFailure(
    t,
    ['unpack', path.basename(file), '--out', options.out ?? 'dest'],
    root,
    code,
  );
}

// ---- unpack ------------------------------------------------------------------------------

t.test(
  'unpack: a valid archive built by this harness unpacks (the baseline for every case)',
  async (t) => {
    const root = t.testdir();
    writeFileSync(path.join(root, 'ok.tar'), tar(validEntries(root)));
    const r = await cli(['unpack', 'ok.tar', '--out', 'dest'], root);
    t.equal(r.code, 0, r.stderr);
    t.equal((await cli(['verify', 'dest'], root)).code, 0);
  },
);

t.test('unpack: absolute path', async (t) => {
  const root = t.testdir();
  await unpackCase(
    t,
    tar([...validEntries(root), { name: '/tmp/ocikit-hostile-abs', content: 'x' }]),
    'OCIKIT_ARCHIVE_PATH_UNSAFE',
  );
  t.notOk(existsSync('/tmp/ocikit-hostile-abs'));
});

t.test('unpack: ".." at the start', async (t) => {
  await unpackCase(t, tar([{ name: '../escaped', content: 'x' }]), 'OCIKIT_ARCHIVE_PATH_UNSAFE');
});

t.test('unpack: ".." in the middle of a blob path', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'blobs/sha256/../../../outside/x', content: 'x' }]),
    'OCIKIT_ARCHIVE_PATH_UNSAFE',
  );
});

t.test('unpack: ".." through the ustar prefix field', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'x', prefix: '../..', content: 'x' }]),
    'OCIKIT_ARCHIVE_PATH_UNSAFE',
  );
});

t.test('unpack: ".." hidden in a pax path record', async (t) => {
  await unpackCase(
    t,
    tar([paxEntry({ path: '../../outside/pax' }), { name: 'innocent', content: 'x' }]),
    'OCIKIT_ARCHIVE_PATH_UNSAFE',
  );
});

t.test('unpack: ".." hidden in a GNU long name', async (t) => {
  await unpackCase(
    t,
    tar([
      { name: '././@LongLink', type: 'L', content: '../../outside/gnu\0' },
      { name: 'innocent', content: 'x' },
    ]),
    'OCIKIT_ARCHIVE_PATH_UNSAFE',
  );
});

t.test('unpack: backslash path (Windows separators)', async (t) => {
  await unpackCase(t, tar([{ name: '..\\..\\evil', content: 'x' }]), 'OCIKIT_ARCHIVE_PATH_UNSAFE');
});

t.test('unpack: empty path component', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'blobs//sha256/x', content: 'x' }]),
    'OCIKIT_ARCHIVE_PATH_UNSAFE',
  );
});

t.test('unpack: symlink to a file outside the destination', async (t) => {
  const root = t.testdir();
  const entries = validEntries(root);
  // The blob path itself is a link to /etc/passwd.
  const blob = entries.find(
    (e) => e.name.startsWith('blobs/sha256/') && e.type === undefined,
  ) as RawEntry;
  const rest = entries.filter((e) => e !== blob);
  await unpackCase(
    t,
    tar([...rest, { name: blob.name, type: '2', linkname: '/etc/passwd' }]),
    'OCIKIT_ARCHIVE_LINK',
  );
});

t.test('unpack: symlink inside the destination (links are never extracted)', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'index.json', type: '2', linkname: 'oci-layout' }]),
    'OCIKIT_ARCHIVE_LINK',
  );
});

t.test('unpack: symlinked directory, then a file written through it', async (t) => {
  await unpackCase(
    t,
    tar([
      { name: 'blobs', type: '2', linkname: '../outside' },
      { name: 'blobs/sha256/x', content: 'x' },
    ]),
    'OCIKIT_ARCHIVE_LINK',
  );
});

t.test('unpack: hardlink to a file outside the destination', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'oci-layout', type: '1', linkname: '/etc/shadow' }]),
    'OCIKIT_ARCHIVE_LINK',
  );
});

t.test('unpack: hardlink to an earlier entry', async (t) => {
  const root = t.testdir();
  const entries = validEntries(root);
  await unpackCase(
    t,
    tar([
      ...entries.slice(0, 3),
      { name: 'index.json', type: '1', linkname: entries[2]?.name ?? '' },
    ]),
    'OCIKIT_ARCHIVE_LINK',
  );
});

t.test('unpack: pax linkpath on a symlink', async (t) => {
  await unpackCase(
    t,
    tar([paxEntry({ linkpath: '/etc/passwd' }), { name: 'oci-layout', type: '2' }]),
    'OCIKIT_ARCHIVE_LINK',
  );
});

t.test('unpack: character device', async (t) => {
  await unpackCase(t, tar([{ name: 'oci-layout', type: '3' }]), 'OCIKIT_ARCHIVE_SPECIAL_FILE');
});

t.test('unpack: block device', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'blobs/sha256/dev', type: '4' }]),
    'OCIKIT_ARCHIVE_SPECIAL_FILE',
  );
});

t.test('unpack: FIFO', async (t) => {
  await unpackCase(t, tar([{ name: 'index.json', type: '6' }]), 'OCIKIT_ARCHIVE_SPECIAL_FILE');
});

t.test('unpack: GNU sparse file', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'index.json', type: 'S', content: 'x' }]),
    'OCIKIT_ARCHIVE_SPECIAL_FILE',
  );
});

t.test('unpack: the same file twice (a later entry would replace a verified one)', async (t) => {
  const root = t.testdir();
  const entries = validEntries(root);
  await unpackCase(
    t,
    tar([...entries, { name: 'index.json', content: '{"schemaVersion":2,"manifests":[]}' }]),
    'OCIKIT_ARCHIVE_DUPLICATE_ENTRY',
  );
});

t.test('unpack: the same blob twice, spelled differently (./ prefix)', async (t) => {
  const root = t.testdir();
  const entries = validEntries(root);
  const blob = entries[2] as RawEntry;
  await unpackCase(
    t,
    tar([...entries, { ...blob, name: `./${blob.name}` }]),
    'OCIKIT_ARCHIVE_DUPLICATE_ENTRY',
  );
});

t.test('unpack: oversized pax header', async (t) => {
  await unpackCase(
    t,
    tar([paxEntry({ comment: 'x'.repeat(100 * 1024) }), { name: 'oci-layout', content: '{}' }]),
    'OCIKIT_ARCHIVE_HEADER_TOO_LARGE',
  );
});

t.test('unpack: oversized GNU long name', async (t) => {
  await unpackCase(
    t,
    tar([
      { name: '././@LongLink', type: 'L', content: `${'a/'.repeat(8000)}x\0` },
      { name: 'x', content: 'x' },
    ]),
    'OCIKIT_ARCHIVE_HEADER_TOO_LARGE',
  );
});

t.test('unpack: a path longer than any layout path', async (t) => {
  await unpackCase(
    t,
    tar([paxEntry({ path: `blobs/${'d/'.repeat(1000)}x` }), { name: 'x', content: 'x' }]),
    'OCIKIT_ARCHIVE_HEADER_TOO_LARGE',
  );
});

t.test('unpack: a file outside the layout shape', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' }]),
    'OCIKIT_ARCHIVE_UNEXPECTED_ENTRY',
  );
});

t.test('unpack: an executable at the top level', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'run.sh', mode: 0o4755, content: '#!/bin/sh\n' }]),
    'OCIKIT_ARCHIVE_UNEXPECTED_ENTRY',
  );
});

t.test('unpack: a directory where a blob belongs', async (t) => {
  await unpackCase(
    t,
    tar([{ name: `blobs/sha256/${'a'.repeat(64)}/`, type: '5' }]),
    'OCIKIT_ARCHIVE_UNEXPECTED_ENTRY',
  );
});

t.test('unpack: a blob name that is not a digest', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'blobs/sha256/not-a-digest', content: 'x' }]),
    'OCIKIT_DIGEST_INVALID',
  );
});

t.test('unpack: a blob whose algorithm cannot be verified', async (t) => {
  await unpackCase(
    t,
    tar([{ name: `blobs/md5/${'0'.repeat(32)}`, content: 'x' }]),
    'OCIKIT_DIGEST_UNSUPPORTED',
  );
});

t.test('unpack: a blob whose content does not match its name', async (t) => {
  await unpackCase(
    t,
    tar([{ name: `blobs/sha256/${sha256('expected')}`, content: 'something else' }]),
    'OCIKIT_BLOB_DIGEST_MISMATCH',
  );
});

t.test('unpack: a large blob whose last byte is wrong (checked while streaming)', async (t) => {
  const good = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  const bad = Buffer.from(good);
  bad[bad.length - 1] = 8;
  await unpackCase(
    t,
    tar([{ name: `blobs/sha256/${sha256(good)}`, content: bad }]),
    'OCIKIT_BLOB_DIGEST_MISMATCH',
  );
});

t.test(
  'unpack: a blob large enough to be hashed on the worker thread, one byte wrong',
  async (t) => {
    const good = Buffer.alloc(9 * 1024 * 1024 + 5, 3);
    const bad = Buffer.from(good);
    bad[4 * 1024 * 1024] = 4;
    await unpackCase(
      t,
      tar([{ name: `blobs/sha256/${sha256(good)}`, content: bad }]),
      'OCIKIT_BLOB_DIGEST_MISMATCH',
    );
  },
);

t.test(
  'unpack: cut in the middle of a large blob (the worker is stopped, nothing hangs)',
  async (t) => {
    const big = Buffer.alloc(12 * 1024 * 1024, 9);
    const whole = tar([{ name: `blobs/sha256/${sha256(big)}`, content: big }]);
    await unpackCase(t, whole.subarray(0, 10 * 1024 * 1024), 'OCIKIT_ARCHIVE_TRUNCATED');
  },
);

t.test('unpack: index.json larger than any metadata', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'index.json', content: Buffer.alloc(16 * 1024 * 1024 + 1, 0x20) }]),
    'OCIKIT_JSON_TOO_LARGE',
  );
});

t.test('unpack: header checksum wrong', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'oci-layout', content: '{}', badChecksum: true }]),
    'OCIKIT_ARCHIVE_INVALID',
  );
});

t.test('unpack: size field not octal', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'oci-layout', content: '{}', sizeField: '00000000x02\0' }]),
    'OCIKIT_ARCHIVE_INVALID',
  );
});

t.test('unpack: negative base-256 size', async (t) => {
  await unpackCase(
    t,
    tar([{ name: 'oci-layout', content: '{}', sizeField: '\xff'.repeat(12) }]),
    'OCIKIT_ARCHIVE_INVALID',
  );
});

t.test('unpack: not a tar at all', async (t) => {
  await unpackCase(
    t,
    Buffer.from('{"imageLayoutVersion":"1.0.0"}\n'.repeat(40)),
    'OCIKIT_ARCHIVE_INVALID',
  );
});

t.test('unpack: an empty file', async (t) => {
  await unpackCase(t, Buffer.alloc(0), 'OCIKIT_ARCHIVE_TRUNCATED');
});

t.test('unpack: cut in the middle of a blob', async (t) => {
  const root = t.testdir();
  const whole = tar(validEntries(root));
  await unpackCase(t, whole.subarray(0, 512 * 4 + 100), 'OCIKIT_ARCHIVE_TRUNCATED');
});

t.test('unpack: no end-of-archive marker', async (t) => {
  const root = t.testdir();
  await unpackCase(t, tar(validEntries(root), false), 'OCIKIT_ARCHIVE_TRUNCATED');
});

t.test('unpack: a second archive appended after the end marker', async (t) => {
  const root = t.testdir();
  await unpackCase(
    t,
    Buffer.concat([tar(validEntries(root)), tar([{ name: 'etc/cron.d/x', content: 'x' }])]),
    'OCIKIT_ARCHIVE_INVALID',
  );
});

t.test('unpack: a global pax header that renames every entry', async (t) => {
  await unpackCase(
    t,
    tar([paxEntry({ path: 'x' }, 'g'), { name: 'oci-layout', content: '{}' }]),
    'OCIKIT_ARCHIVE_INVALID',
  );
});

t.test('unpack: gzip with a corrupt CRC', async (t) => {
  const root = t.testdir();
  const gz = gzipSync(tar(validEntries(root)));
  gz.writeUInt32LE((gz.readUInt32LE(gz.length - 8) ^ 1) >>> 0, gz.length - 8);
  const file = path.join(root, 'x.tar.gz');
  writeFileSync(file, gz);
  await expectFailure(t, ['unpack', 'x.tar.gz', '--out', 'dest'], root, 'OCIKIT_ARCHIVE_INVALID');
});

t.test('unpack: gzip cut short', async (t) => {
  const root = t.testdir();
  const gz = gzipSync(tar(validEntries(root)));
  writeFileSync(path.join(root, 'x.tar.gz'), gz.subarray(0, gz.length - 30));
  await expectFailure(t, ['unpack', 'x.tar.gz', '--out', 'dest'], root, 'OCIKIT_ARCHIVE_TRUNCATED');
});

t.test('unpack: a referenced blob is missing from the archive', async (t) => {
  const root = t.testdir();
  const entries = validEntries(root).filter((e, i) => i !== 3);
  await unpackCase(t, tar(entries), 'OCIKIT_BLOB_MISSING');
});

t.test('unpack: no oci-layout file', async (t) => {
  const root = t.testdir();
  await unpackCase(
    t,
    tar(validEntries(root).filter((e) => e.name !== 'oci-layout')),
    'OCIKIT_LAYOUT_INVALID',
  );
});

t.test('unpack: no index.json', async (t) => {
  const root = t.testdir();
  await unpackCase(
    t,
    tar(validEntries(root).filter((e) => e.name !== 'index.json')),
    'OCIKIT_INDEX_MISSING',
  );
});

t.test('unpack: index.json is not JSON', async (t) => {
  const root = t.testdir();
  const entries = validEntries(root).map((e) =>
    e.name === 'index.json' ? { ...e, content: '{"manifests": [' } : e,
  );
  await unpackCase(t, tar(entries), 'OCIKIT_JSON_INVALID');
});

t.test('unpack: index.json gives a blob the wrong size', async (t) => {
  const root = t.testdir();
  const entries = validEntries(root).map((e) => {
    if (e.name !== 'index.json') return e;
    const doc = JSON.parse(String(e.content)) as { manifests: { size: number }[] };
    (doc.manifests[0] as { size: number }).size += 1;
    return { ...e, content: JSON.stringify(doc) };
  });
  await unpackCase(t, tar(entries), 'OCIKIT_BLOB_SIZE_MISMATCH');
});

t.test('unpack: --out exists and is not empty (nothing touched)', async (t) => {
  const root = t.testdir({ dest: { 'keep.txt': 'mine' } });
  writeFileSync(path.join(root, 'ok.tar'), tar(validEntries(root)));
  await expectFailure(t, ['unpack', 'ok.tar', '--out', 'dest'], root, 'OCIKIT_OUT_NOT_EMPTY');
  t.equal(readFileSync(path.join(root, 'dest', 'keep.txt'), 'utf8'), 'mine');
});

// ---- index ------------------------------------------------------------------------------

/** Two single-platform layouts whose platform is the same (different content). */
function twoLayouts(root: string): void {
  const a = new LayoutBuilder(path.join(root, 'a'));
  a.writeIndex([
    tagged(
      a.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ 'a.txt': 'a' }] }),
      'app',
    ),
  ]);
  const b = new LayoutBuilder(path.join(root, 'b'));
  // x86_64 normalises to amd64: the same platform, spelled differently, and no platform on the descriptor.
  b.writeIndex([
    tagged(
      b.image({
        platform: { os: 'linux', architecture: 'x86_64' },
        layers: [{ 'b.txt': 'b' }],
        platformOnDescriptor: false,
      }),
      'app',
    ),
  ]);
}

t.test('index: two different manifests for one platform', async (t) => {
  const root = t.testdir();
  twoLayouts(root);
  const r = await expectFailure(
    t,
    ['index', '--out', 'merged', 'a:app', 'b:app'],
    root,
    'OCIKIT_INDEX_CONFLICT',
  );
  t.match(
    r.error.message,
    /"linux\/amd64".*sha256:[0-9a-f]{64} from "a:app" and sha256:[0-9a-f]{64} from "b:app"/,
  );
});

t.test('index: annotations asked for on Docker manifests', async (t) => {
  const root = t.testdir();
  const b = new LayoutBuilder(path.join(root, 'docker'));
  const config = b.json(
    { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
    'application/vnd.docker.container.image.v1+json',
  );
  const m = b.json(
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config,
      layers: [],
    },
    'application/vnd.docker.distribution.manifest.v2+json',
  );
  b.writeIndex([tagged(m, 'v1')]);
  const r = await expectFailure(
    t,
    ['index', '--out', 'merged', 'docker:v1', '--annotation', 'org.opencontainers.image.version=1'],
    root,
    'OCIKIT_ANNOTATIONS_UNSUPPORTED',
  );
  t.match(r.error.message, /Docker manifest list/);
});

t.test('index: two sources disagree on an index annotation', async (t) => {
  const root = t.testdir();
  for (const [name, arch, v] of [
    ['a', 'amd64', '1'],
    ['b', 'arm64', '2'],
  ] as const) {
    const b = new LayoutBuilder(path.join(root, name));
    const img = b.image({ platform: { os: 'linux', architecture: arch }, layers: [] });
    b.writeIndex([tagged(b.index([img], { 'org.opencontainers.image.version': v }), 'app')]);
  }
  const r = await expectFailure(
    t,
    ['index', '--out', 'merged', 'a:app', 'b:app'],
    root,
    'OCIKIT_INDEX_CONFLICT',
  );
  t.match(r.error.message, /org\.opencontainers\.image\.version/);
});

t.test('index: one manifest with conflicting descriptor annotations', async (t) => {
  const root = t.testdir();
  const b = new LayoutBuilder(path.join(root, 'a'));
  const img = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
  b.writeIndex([
    tagged({ ...img, annotations: { team: 'x' } }, 'one'),
    tagged({ ...img, annotations: { team: 'y' } }, 'two'),
  ]);
  await expectFailure(
    t,
    ['index', '--out', 'merged', 'a:one', 'a:two'],
    root,
    'OCIKIT_INDEX_CONFLICT',
  );
});

t.test('index: a source lacks a layer blob', async (t) => {
  const root = t.testdir();
  const s = standardLayout(path.join(root, 'a'));
  const manifest = JSON.parse(
    readFileSync(path.join(root, 'a', 'blobs', 'sha256', s.amd64.digest.slice(7)), 'utf8'),
  ) as { layers: { digest: string }[] };
  rmSync(
    path.join(
      root,
      'a',
      'blobs',
      'sha256',
      (manifest.layers[0] as { digest: string }).digest.slice(7),
    ),
  );
  await expectFailure(t, ['index', '--out', 'merged', 'a:multi'], root, 'OCIKIT_BLOB_MISSING');
});

t.test('index: a source layer has the wrong size', async (t) => {
  const root = t.testdir();
  const s = standardLayout(path.join(root, 'a'));
  const manifest = JSON.parse(
    readFileSync(path.join(root, 'a', 'blobs', 'sha256', s.amd64.digest.slice(7)), 'utf8'),
  ) as { layers: { digest: string }[] };
  writeFileSync(
    path.join(
      root,
      'a',
      'blobs',
      'sha256',
      (manifest.layers[0] as { digest: string }).digest.slice(7),
    ),
    'short',
  );
  await expectFailure(
    t,
    ['index', '--out', 'merged', 'a:multi'],
    root,
    'OCIKIT_BLOB_SIZE_MISMATCH',
  );
});

t.test('index: a source manifest is corrupt', async (t) => {
  const root = t.testdir();
  const s = standardLayout(path.join(root, 'a'));
  const file = path.join(root, 'a', 'blobs', 'sha256', s.amd64.digest.slice(7));
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace('"schemaVersion":2', '"schemaVersion":3').slice(0, text.length));
  await expectFailure(
    t,
    ['index', '--out', 'merged', 'a:multi'],
    root,
    'OCIKIT_BLOB_DIGEST_MISMATCH',
  );
});

t.test('index: a source blob is a symlink out of the layout', async (t) => {
  const root = t.testdir({ secret: 'not a blob' });
  const s = standardLayout(path.join(root, 'a'));
  const manifest = JSON.parse(
    readFileSync(path.join(root, 'a', 'blobs', 'sha256', s.single.digest.slice(7)), 'utf8'),
  ) as { layers: { digest: string }[] };
  const layer = path.join(
    root,
    'a',
    'blobs',
    'sha256',
    (manifest.layers[0] as { digest: string }).digest.slice(7),
  );
  rmSync(layer);
  symlinkSync(path.join(root, 'secret'), layer);
  await expectFailure(
    t,
    ['index', '--out', 'merged', 'a:single'],
    root,
    'OCIKIT_BLOB_SYMLINK_ESCAPES',
  );
});

t.test('index: unknown tag, unknown digest, missing layout', async (t) => {
  const root = t.testdir();
  standardLayout(path.join(root, 'a'));
  await expectFailure(t, ['index', '--out', 'merged', 'a:nope'], root, 'OCIKIT_TAG_NOT_FOUND');
  await expectFailure(
    t,
    ['index', '--out', 'merged', `a@sha256:${'0'.repeat(64)}`],
    root,
    'OCIKIT_DIGEST_NOT_FOUND',
  );
  await expectFailure(
    t,
    ['index', '--out', 'merged', 'nowhere:app'],
    root,
    'OCIKIT_LAYOUT_NOT_FOUND',
  );
});

t.test('index: Docker schema 1 in a source', async (t) => {
  const root = t.testdir();
  const b = new LayoutBuilder(path.join(root, 'a'));
  const d = b.json(
    { schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] },
    'application/vnd.docker.distribution.manifest.v1+prettyjws',
  );
  b.writeIndex([tagged(d, 'old')]);
  await expectFailure(
    t,
    ['index', '--out', 'merged', 'a:old'],
    root,
    'OCIKIT_MEDIA_TYPE_UNSUPPORTED',
  );
});

t.test('index: --oci on a layer media type with no OCI equivalent', async (t) => {
  const root = t.testdir();
  const b = new LayoutBuilder(path.join(root, 'a'));
  const layer = b.blob('weird', 'application/vnd.docker.plugin.v1+json');
  const config = b.json(
    { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
    'application/vnd.docker.container.image.v1+json',
  );
  const m = b.json(
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config,
      layers: [layer],
    },
    'application/vnd.docker.distribution.manifest.v2+json',
  );
  b.writeIndex([tagged(m, 'v1')]);
  await expectFailure(
    t,
    ['index', '--out', 'merged', 'a:v1', '--oci'],
    root,
    'OCIKIT_MEDIA_TYPE_UNSUPPORTED',
  );
});

t.test('index: an index that nests deeper than ocikit follows', async (t) => {
  const root = t.testdir();
  const b = new LayoutBuilder(path.join(root, 'a'));
  let d = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
  for (let i = 0; i < 12; i++) d = b.index([d]);
  b.writeIndex([tagged(d, 'deep')]);
  await expectFailure(t, ['index', '--out', 'merged', 'a:deep'], root, 'OCIKIT_NESTING_TOO_DEEP');
});

t.test('index: --out inside a source', async (t) => {
  const root = t.testdir();
  standardLayout(path.join(root, 'a'));
  await expectFailure(
    t,
    ['index', '--out', 'a/merged', 'a:multi'],
    root,
    'OCIKIT_OUT_INSIDE_INPUT',
  );
});

t.test('index: --out not empty', async (t) => {
  const root = t.testdir({ merged: { x: 'y' } });
  standardLayout(path.join(root, 'a'));
  await expectFailure(t, ['index', '--out', 'merged', 'a:multi'], root, 'OCIKIT_OUT_NOT_EMPTY');
});

t.test(
  'index: malformed annotation, manifest annotation, invalid tag (usage errors)',
  async (t) => {
    const root = t.testdir();
    standardLayout(path.join(root, 'a'));
    await expectFailure(
      t,
      ['index', '--out', 'merged', 'a:multi', '--annotation', 'novalue'],
      root,
      'OCIKIT_USAGE',
    );
    await expectFailure(
      t,
      ['index', '--out', 'merged', 'a:multi', '--annotation', 'manifest:k=v'],
      root,
      'OCIKIT_USAGE',
    );
    await expectFailure(
      t,
      ['index', '--out', 'merged', 'a:multi', '--tag', 'bad tag!'],
      root,
      'OCIKIT_USAGE',
    );
  },
);

t.test('index: an index.json entry that is not an image', async (t) => {
  const root = t.testdir();
  const b = new LayoutBuilder(path.join(root, 'a'));
  b.writeIndex([tagged(b.blob('hello', 'text/plain'), 'txt')]);
  await expectFailure(
    t,
    ['index', '--out', 'merged', 'a:txt'],
    root,
    'OCIKIT_MEDIA_TYPE_UNSUPPORTED',
  );
});

t.test('index: the index a tag names has the wrong media type inside', async (t) => {
  const root = t.testdir();
  const b = new LayoutBuilder(path.join(root, 'a'));
  const img = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
  const idx = b.json({ schemaVersion: 2, mediaType: OCI_MANIFEST, manifests: [img] }, OCI_INDEX);
  b.writeIndex([tagged(idx, 'bad')]);
  await expectFailure(t, ['index', '--out', 'merged', 'a:bad'], root, 'OCIKIT_MEDIA_TYPE_MISMATCH');
  void OCI_CONFIG;
});

// The harness's own check: a case that succeeds must be caught.
t.test('harness: expectFailure notices success', async (t) => {
  const root = t.testdir();
  mkdirSync(path.join(root, 'x'));
  writeFileSync(path.join(root, 'ok.tar'), tar(validEntries(root)));
  const r = await cli(['unpack', 'ok.tar', '--out', 'dest', '--json'], root);
  t.equal(r.code, 0);
  t.notOk(JSON.parse(r.stdout).error);
});
