/**
 * Interop with layouts real tools produced, and real tools reading ours:
 *  - umoci (init / new / insert / insert --tag / config --tag) makes a layout;
 *  - skopeo copies into `oci:` layouts: as is, with `--format v2s2` (Docker media types inside
 *    an OCI layout), and `--all` for a multi-arch index our LayoutBuilder made;
 *  - skopeo and umoci read the LayoutBuilder's layouts.
 * The oracles are the tools: the digest ocikit resolves must equal the sha256 of
 * `skopeo inspect --raw oci:DIR:TAG` (and skopeo's --digestfile), layer counts must equal what
 * skopeo shows, and `ocikit verify` must pass. Tools run with relative `oci:NAME:TAG` refs
 * from the layout's parent directory, so the absolute test path never meets their `:` parsing.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundle } from './helpers/cli.js';
import { standardLayout } from './helpers/layout-builder.js';
import { CLEAN_ENV, mustRun, privateTestdir, requireTool, runTool } from './helpers/tools.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

interface RawDoc {
  mediaType?: string;
  manifests?: Desc[];
  layers?: Desc[];
}

interface InspectJson {
  images: {
    tags: string[];
    digest: string;
    mediaType: string;
    manifests: { digest: string; platform: string; layers: number; mediaType: string }[];
  }[];
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const isIndex = (mt: string | undefined): boolean =>
  mt === 'application/vnd.oci.image.index.v1+json' ||
  mt === 'application/vnd.docker.distribution.manifest.list.v2+json';
const formatPlatform = (p: { os: string; architecture: string; variant?: string }): string =>
  [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');

/** Every tool works on `cwd`-relative names: <cwd>/<name> is the layout. */
function skopeo(cwd: string, ...args: string[]): Buffer {
  return mustRun('skopeo', args, { cwd });
}

/** `skopeo copy` (no signature policy involved: local directories only); returns --digestfile. */
function skopeoCopy(cwd: string, ...args: string[]): string {
  const digestFile = path.join(cwd, `digest-${Math.random().toString(36).slice(2)}`);
  skopeo(cwd, '--insecure-policy', 'copy', '--quiet', '--digestfile', digestFile, ...args);
  return readFileSync(digestFile, 'utf8').trim();
}

function umoci(cwd: string, ...args: string[]): Buffer {
  return mustRun('umoci', args, { cwd });
}

/** The bundled CLI, started as a user would (see CLEAN_ENV). */
const ocikit = (args: string[]): ReturnType<typeof bundle> => bundle(args, { prefix: CLEAN_ENV });

/** The bundled CLI; --json output parsed; exit 0 required. */
function ocikitJson<T>(t: Test, args: string[]): T {
  const r = ocikit([...args, '--json']);
  t.equal(r.code, 0, `ocikit ${args.join(' ')} --json: exit 0`, {
    stdout: r.stdout,
    stderr: r.stderr,
  });
  return JSON.parse(r.stdout) as T;
}

/**
 * The core comparison for one tag. `raw` is the tag's manifest or index as skopeo prints it with
 * --raw (or, where skopeo cannot read the layout back, as skopeo wrote it: see v2s2).
 * Returns the number of image manifests compared.
 */
function compareTag(
  t: Test,
  cwd: string,
  name: string,
  tag: string,
  raw: Buffer,
  options: { skopeoReads: boolean },
): number {
  const L = path.join(cwd, name);
  const digest = sha256(raw);
  const doc = JSON.parse(raw.toString('utf8')) as RawDoc;
  const resolved = ocikitJson<{ descriptor: Desc; layers?: number }>(t, [
    'resolve',
    L,
    '--tag',
    tag,
  ]);
  t.equal(
    resolved.descriptor.digest,
    digest,
    `${name}:${tag}: ocikit resolve == sha256 of the raw manifest`,
  );
  t.equal(resolved.descriptor.size, raw.length, `${name}:${tag}: size`);
  const text = ocikit(['resolve', L, '--tag', tag]);
  t.equal(text.stdout, `${digest}\n`, `${name}:${tag}: text resolve prints the same digest`);

  const inspected = ocikitJson<InspectJson>(t, ['inspect', L]);
  const image = inspected.images.find((i) => i.tags.includes(tag));
  t.equal(image?.digest, digest, `${name}:${tag}: ocikit inspect lists the tag with that digest`);

  let manifests = 0;
  if (isIndex(doc.mediaType)) {
    for (const child of doc.manifests ?? []) {
      if (child.platform === undefined) continue;
      const p = formatPlatform(child.platform);
      const r = ocikitJson<{ descriptor: Desc; layers?: number }>(t, [
        'resolve',
        L,
        '--tag',
        tag,
        '--platform',
        p,
      ]);
      t.equal(
        r.descriptor.digest,
        child.digest,
        `${name}:${tag} ${p}: ocikit resolve --platform == the index's entry`,
      );
      const shown = image?.manifests.find((m) => m.digest === child.digest);
      t.equal(shown?.platform, p, `${name}:${tag} ${p}: ocikit inspect platform`);
      const childRaw = readFileSync(path.join(L, 'blobs', ...child.digest.split(':')));
      t.equal(
        sha256(childRaw),
        child.digest,
        `${name}:${tag} ${p}: the manifest blob hashes to its digest`,
      );
      const childLayers = ((JSON.parse(childRaw.toString('utf8')) as RawDoc).layers ?? []).map(
        (l) => l.digest,
      );
      let expectedLayers: number;
      if (options.skopeoReads) {
        const overrides = [
          '--override-os',
          child.platform.os,
          '--override-arch',
          child.platform.architecture,
        ];
        if (child.platform.variant !== undefined)
          overrides.push('--override-variant', child.platform.variant);
        const info = JSON.parse(
          skopeo(cwd, 'inspect', ...overrides, `oci:${name}:${tag}`).toString('utf8'),
        ) as { Layers: string[] };
        t.same(info.Layers, childLayers, `${name}:${tag} ${p}: skopeo picked that manifest too`);
        expectedLayers = info.Layers.length;
      } else {
        expectedLayers = childLayers.length;
      }
      t.equal(
        r.layers,
        expectedLayers,
        `${name}:${tag} ${p}: resolve --json layers == skopeo's (${expectedLayers})`,
      );
      t.equal(
        shown?.layers,
        expectedLayers,
        `${name}:${tag} ${p}: inspect --json layers == skopeo's`,
      );
      const v = ocikitJson<{ ok: boolean; roots: string[] }>(t, [
        'verify',
        L,
        '--tag',
        tag,
        '--platform',
        p,
      ]);
      t.same([v.ok, v.roots], [true, [child.digest]], `${name}:${tag} ${p}: ocikit verify`);
      manifests++;
    }
  } else {
    const expectedLayers = doc.layers?.length ?? -1;
    t.equal(
      resolved.layers,
      expectedLayers,
      `${name}:${tag}: resolve --json layers == skopeo --raw's (${expectedLayers})`,
    );
    t.same(
      image?.manifests.map((m) => [m.digest, m.layers]),
      [[digest, expectedLayers]],
      `${name}:${tag}: inspect --json layers == skopeo --raw's`,
    );
    manifests = 1;
  }
  const v = ocikitJson<{ ok: boolean; problems: unknown[]; roots: string[] }>(t, [
    'verify',
    L,
    '--tag',
    tag,
  ]);
  t.same([v.ok, v.problems, v.roots], [true, [], [digest]], `${name}:${tag}: ocikit verify`);
  return manifests;
}

/** `skopeo inspect --raw oci:NAME:TAG`. */
function skopeoRaw(cwd: string, name: string, tag: string): Buffer {
  return skopeo(cwd, 'inspect', '--raw', `oci:${name}:${tag}`);
}

/** A umoci layout in <dir>/umoci: t1 (1 layer), t2 (t1 + 1 layer), t3 (t2 + a config change). */
function makeUmociLayout(dir: string): void {
  writeFileSync(path.join(dir, 'hello.txt'), 'hello from umoci\n');
  writeFileSync(path.join(dir, 'two.txt'), 'second layer\n');
  umoci(dir, 'init', '--layout', 'umoci');
  umoci(dir, 'new', '--image', 'umoci:t1');
  umoci(dir, 'insert', '--image', 'umoci:t1', 'hello.txt', '/etc/hello.txt');
  umoci(dir, 'insert', '--image', 'umoci:t1', '--tag', 't2', 'two.txt', '/opt/two.txt');
  umoci(
    dir,
    'config',
    '--image',
    'umoci:t2',
    '--tag',
    't3',
    '--config.env',
    'FOO=bar',
    '--config.label',
    'org.example=1',
  );
}

t.test('umoci layout: init, new, insert, insert --tag, config --tag', async (t) => {
  if (!requireTool(t, 'umoci') || !requireTool(t, 'skopeo')) return;
  const dir = privateTestdir(t);
  makeUmociLayout(dir);
  const L = path.join(dir, 'umoci');
  const refNames = (
    JSON.parse(readFileSync(path.join(L, 'index.json'), 'utf8')) as { manifests: Desc[] }
  ).manifests.map((d) => d.annotations?.['org.opencontainers.image.ref.name']);
  t.same(
    refNames,
    ['t1', 't2', 't3'],
    'umoci 0.4.7 writes the bare tag as org.opencontainers.image.ref.name',
  );
  const umociTags = umoci(dir, 'ls', '--layout', 'umoci')
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .sort();
  t.same(umociTags, ['t1', 't2', 't3'], 'umoci ls');
  const inspected = ocikitJson<InspectJson>(t, ['inspect', L]);
  t.same(
    inspected.images.flatMap((i) => i.tags).sort(),
    umociTags,
    'ocikit inspect lists the tags umoci lists',
  );
  const layers: Record<string, number> = {};
  for (const tag of umociTags) {
    const raw = skopeoRaw(dir, 'umoci', tag);
    compareTag(t, dir, 'umoci', tag, raw, { skopeoReads: true });
    layers[tag] = (JSON.parse(raw.toString('utf8')) as RawDoc).layers?.length ?? -1;
  }
  t.same(layers, { t1: 1, t2: 2, t3: 2 }, 'layer counts as built');
  const v = ocikitJson<{ ok: boolean; roots: string[] }>(t, ['verify', L]);
  t.same([v.ok, v.roots.length], [true, 3], 'ocikit verify of the whole layout');
});

t.test('skopeo copy of umoci images into a new oci: layout, two tags', async (t) => {
  if (!requireTool(t, 'umoci') || !requireTool(t, 'skopeo')) return;
  const dir = privateTestdir(t);
  makeUmociLayout(dir);
  const copied: Record<string, string> = {};
  copied['copy'] = skopeoCopy(dir, 'oci:umoci:t1', 'oci:skopeo:copy');
  copied['copy2'] = skopeoCopy(dir, 'oci:umoci:t3', 'oci:skopeo:copy2');
  for (const [tag, reported] of Object.entries(copied)) {
    const raw = skopeoRaw(dir, 'skopeo', tag);
    t.equal(sha256(raw), reported, `skopeo:${tag}: --digestfile == sha256 of skopeo inspect --raw`);
    compareTag(t, dir, 'skopeo', tag, raw, { skopeoReads: true });
  }
  t.equal(
    copied['copy'],
    sha256(skopeoRaw(dir, 'umoci', 't1')),
    'an OCI-to-OCI copy keeps the manifest bytes',
  );
  const v = ocikitJson<{ ok: boolean; roots: string[] }>(t, ['verify', path.join(dir, 'skopeo')]);
  t.same([v.ok, v.roots.length], [true, 2], 'ocikit verify of the whole layout');
});

t.test('skopeo copy without a tag, then twice to the same tag', async (t) => {
  if (!requireTool(t, 'umoci') || !requireTool(t, 'skopeo')) return;
  const dir = privateTestdir(t);
  makeUmociLayout(dir);
  const L = path.join(dir, 'retag');
  const untagged = skopeoCopy(dir, 'oci:umoci:t1', 'oci:retag');
  const raw = skopeo(dir, 'inspect', '--raw', 'oci:retag');
  t.equal(sha256(raw), untagged, 'skopeo --raw of the only, untagged image');
  const only = ocikitJson<{ descriptor: Desc; matchedBy: string }>(t, ['resolve', L]);
  t.same(
    [only.descriptor.digest, only.matchedBy],
    [untagged, 'single-manifest'],
    'ocikit resolve with no tag takes the only manifest, as skopeo does',
  );

  skopeoCopy(dir, 'oci:umoci:t2', 'oci:retag:x');
  const last = skopeoCopy(dir, 'oci:umoci:t3', 'oci:retag:x');
  const entries = (
    JSON.parse(readFileSync(path.join(L, 'index.json'), 'utf8')) as { manifests: Desc[] }
  ).manifests;
  t.same(
    entries.map((d) => d.annotations?.['org.opencontainers.image.ref.name'] ?? null),
    [null, null, 'x'],
    'skopeo moved tag x to the new image and left the old one untagged',
  );
  compareTag(t, dir, 'retag', 'x', skopeoRaw(dir, 'retag', 'x'), { skopeoReads: true });
  t.equal(sha256(skopeoRaw(dir, 'retag', 'x')), last, 'tag x is the last copy');
  t.not(
    runTool('skopeo', ['inspect', '--raw', 'oci:retag'], { cwd: dir }).code,
    0,
    'skopeo refuses a tagless ref with three images',
  );
  const none = ocikit(['resolve', L, '--json']);
  t.same(
    [none.code, (JSON.parse(none.stdout) as { error: { code: string } }).error.code],
    [1, 'OCIKIT_TAG_NOT_FOUND'],
    'so does ocikit',
  );
  const v = ocikitJson<{ ok: boolean; roots: string[] }>(t, ['verify', L]);
  t.same([v.ok, v.roots.length], [true, 3], 'ocikit verify: all three images, tagged or not');
});

t.test('skopeo copy --format v2s2: Docker media types inside an OCI layout', async (t) => {
  if (!requireTool(t, 'umoci') || !requireTool(t, 'skopeo')) return;
  const dir = privateTestdir(t);
  makeUmociLayout(dir);
  const reported = skopeoCopy(dir, '--format', 'v2s2', 'oci:umoci:t2', 'oci:docker:v2');
  const L = path.join(dir, 'docker');
  const entry = (
    JSON.parse(readFileSync(path.join(L, 'index.json'), 'utf8')) as { manifests: Desc[] }
  ).manifests[0];
  t.same(
    [entry?.mediaType, entry?.digest],
    ['application/vnd.docker.distribution.manifest.v2+json', reported],
    'skopeo wrote a Docker v2s2 manifest, digest as it reported',
  );
  // skopeo 1.9.3 cannot read this back (`no descriptor found for reference "v2"`: its oci
  // transport only looks at OCI media types in index.json). Its --digestfile and the bytes it
  // wrote are the oracle then; a newer skopeo that reads it must agree.
  const back = runTool('skopeo', ['inspect', '--raw', 'oci:docker:v2'], { cwd: dir });
  const raw =
    back.code === 0 ? back.stdout : readFileSync(path.join(L, 'blobs', ...reported.split(':')));
  if (back.code !== 0)
    t.comment(
      `skopeo cannot read Docker media types from oci: (${back.stderr.trim()}); using the bytes it wrote`,
    );
  t.equal(sha256(raw), reported, 'the manifest hashes to what skopeo reported');
  compareTag(t, dir, 'docker', 'v2', raw, { skopeoReads: back.code === 0 });
  const resolved = ocikitJson<{ descriptor: Desc }>(t, [
    'resolve',
    L,
    '--tag',
    'v2',
    '--platform',
    'linux/amd64',
  ]);
  t.equal(resolved.descriptor.digest, reported, '--platform matches through the Docker config');
  const inspected = ocikitJson<InspectJson>(t, ['inspect', L]);
  t.equal(
    inspected.images[0]?.manifests[0]?.mediaType,
    'application/vnd.docker.distribution.manifest.v2+json',
    'inspect shows the Docker media type',
  );
});

t.test(
  'multi-arch index from LayoutBuilder: skopeo reads it, copy --all, ocikit agrees',
  async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    const dir = privateTestdir(t);
    const s = standardLayout(path.join(dir, 'builder'));

    // skopeo accepts our layouts: a single image, and each platform of the index.
    const single = JSON.parse(skopeo(dir, 'inspect', 'oci:builder:single').toString('utf8')) as {
      Digest: string;
      Layers: string[];
      Architecture: string;
    };
    t.same(
      [single.Digest, single.Layers.length, single.Architecture],
      [s.single.digest, 2, 'amd64'],
      'skopeo inspect oci:builder:single',
    );
    for (const [arch, variant, layers] of [
      ['amd64', undefined, 1],
      ['arm64', 'v8', 0],
    ] as const) {
      const args = [
        'inspect',
        '--override-os',
        'linux',
        '--override-arch',
        arch,
        ...(variant !== undefined ? ['--override-variant', variant] : []),
        'oci:builder:multi',
      ];
      const info = JSON.parse(skopeo(dir, ...args).toString('utf8')) as {
        Layers: string[];
        Architecture: string;
      };
      t.same(
        [info.Architecture, info.Layers.length],
        [arch, layers],
        `skopeo inspect oci:builder:multi for linux/${arch}`,
      );
    }
    t.equal(
      sha256(skopeoRaw(dir, 'builder', 'multi')),
      s.multi.digest,
      'skopeo --raw of our index hashes to our digest',
    );
    compareTag(t, dir, 'builder', 'multi', skopeoRaw(dir, 'builder', 'multi'), {
      skopeoReads: true,
    });
    compareTag(t, dir, 'builder', 'single', skopeoRaw(dir, 'builder', 'single'), {
      skopeoReads: true,
    });

    // skopeo copy --all checks every blob's digest on the way.
    const reported = skopeoCopy(dir, '--all', 'oci:builder:multi', 'oci:copied:multi');
    t.equal(reported, s.multi.digest, 'copy --all keeps the index digest');
    const raw = skopeoRaw(dir, 'copied', 'multi');
    t.equal(sha256(raw), reported, 'skopeo --raw hashes to its --digestfile');
    t.equal(
      compareTag(t, dir, 'copied', 'multi', raw, { skopeoReads: true }),
      2,
      'both platforms compared',
    );
    const v = ocikitJson<{ ok: boolean; blobs: number }>(t, ['verify', path.join(dir, 'copied')]);
    t.same([v.ok, v.blobs], [true, 6], 'ocikit verify: index, 2 manifests, 2 configs, 1 layer');
    skopeoCopy(dir, 'oci:builder:single', 'dir:single-dir');
    t.pass('skopeo copy oci:builder:single dir: (blob digests checked by skopeo)');
  },
);

t.test(
  'skopeo copy --all --format v2s2: a Docker manifest list inside an OCI layout',
  async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    const dir = privateTestdir(t);
    standardLayout(path.join(dir, 'builder'));
    const reported = skopeoCopy(
      dir,
      '--all',
      '--format',
      'v2s2',
      'oci:builder:multi',
      'oci:list:dl',
    );
    const L = path.join(dir, 'list');
    const entry = (
      JSON.parse(readFileSync(path.join(L, 'index.json'), 'utf8')) as { manifests: Desc[] }
    ).manifests[0];
    t.same(
      [entry?.mediaType, entry?.digest],
      ['application/vnd.docker.distribution.manifest.list.v2+json', reported],
      'skopeo wrote a Docker manifest list, digest as it reported',
    );
    const back = runTool('skopeo', ['inspect', '--raw', 'oci:list:dl'], { cwd: dir });
    const raw =
      back.code === 0 ? back.stdout : readFileSync(path.join(L, 'blobs', ...reported.split(':')));
    if (back.code !== 0)
      t.comment(
        `skopeo cannot read Docker media types from oci: (${back.stderr.trim()}); using the bytes it wrote`,
      );
    t.equal(sha256(raw), reported, 'the list hashes to what skopeo reported');
    t.equal(
      compareTag(t, dir, 'list', 'dl', raw, { skopeoReads: back.code === 0 }),
      2,
      'both platforms compared',
    );
  },
);

t.test('umoci reads a LayoutBuilder image (unpack checks blob digests)', async (t) => {
  if (!requireTool(t, 'umoci')) return;
  const dir = privateTestdir(t);
  const s = standardLayout(path.join(dir, 'builder'));
  const rootless = process.getuid?.() === 0 ? [] : ['--rootless'];
  umoci(dir, 'unpack', ...rootless, '--image', 'builder:single', 'bundle');
  t.equal(
    readFileSync(path.join(dir, 'bundle', 'rootfs', 'a.txt'), 'utf8'),
    'a\n',
    'layer 1 unpacked',
  );
  t.equal(
    readFileSync(path.join(dir, 'bundle', 'rootfs', 'b.txt'), 'utf8'),
    'b\n',
    'layer 2 unpacked',
  );
  t.ok(
    existsSync(path.join(dir, 'bundle', `${s.single.digest.replace(':', '_')}.mtree`)),
    'umoci unpacked the manifest ocikit resolves for the tag',
  );
  const resolved = ocikitJson<{ descriptor: Desc }>(t, [
    'resolve',
    path.join(dir, 'builder'),
    '--tag',
    'single',
  ]);
  t.equal(resolved.descriptor.digest, s.single.digest, 'ocikit resolve --tag single');
});
