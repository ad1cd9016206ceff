import t from 'tap';
import { ErrorCode, OcikitError, errnoCode, isOcikitError } from '../src/errors.js';
import {
  Lenience,
  parseDescriptor,
  parseImageConfig,
  parseImageIndex,
  parseImageManifest,
  parseOciLayoutFile,
  parsePlatform,
} from '../src/layout/schema.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const D = `sha256:${'ab'.repeat(32)}`;
const desc = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  mediaType: OCI_MANIFEST,
  digest: D,
  size: 7,
  ...over,
});

const caught = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

const SCHEMA = { code: 'OCIKIT_SCHEMA_INVALID', hint: /.+/ };

t.test('parseDescriptor keeps known fields, validated', async (t) => {
  t.same(parseDescriptor(desc(), 'd'), { mediaType: OCI_MANIFEST, digest: D, size: 7 });
  const full = parseDescriptor(
    desc({
      urls: ['https://x'],
      annotations: { a: 'b' },
      data: 'e30=',
      artifactType: 'application/x',
      platform: {
        os: 'linux',
        architecture: 'arm',
        variant: 'v7',
        features: ['f'],
        'os.features': ['g'],
        'os.version': '1',
      },
      unknownField: { ignored: true },
    }),
    'd',
  );
  t.same(full, {
    mediaType: OCI_MANIFEST,
    digest: D,
    size: 7,
    urls: ['https://x'],
    annotations: { a: 'b' },
    data: 'e30=',
    artifactType: 'application/x',
    platform: {
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
      features: ['f'],
      'os.features': ['g'],
      'os.version': '1',
    },
  });
  t.same(
    parseDescriptor(desc({ annotations: null, platform: null }), 'd'),
    parseDescriptor(desc(), 'd'),
    'null annotations/platform tolerated',
  );
  t.same(parseDescriptor(desc({ size: 0 }), 'd').size, 0, 'size 0 is valid (empty blob)');
  t.same(
    parseDescriptor(
      desc({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip; foo=bar' }),
      'd',
    ).mediaType,
    'application/vnd.oci.image.layer.v1.tar+gzip; foo=bar',
  );
});

t.test('parseDescriptor rejects malformed descriptors, naming where', async (t) => {
  const bad: [unknown, string, RegExp][] = [
    [null, 'OCIKIT_SCHEMA_INVALID', /must be a JSON object/],
    [[], 'OCIKIT_SCHEMA_INVALID', /must be a JSON object/],
    ['x', 'OCIKIT_SCHEMA_INVALID', /must be a JSON object/],
    [
      desc({ mediaType: undefined }),
      'OCIKIT_SCHEMA_INVALID',
      /"mediaType" must be a non-empty string/,
    ],
    [desc({ mediaType: '' }), 'OCIKIT_SCHEMA_INVALID', /"mediaType"/],
    [desc({ mediaType: 'manifest' }), 'OCIKIT_SCHEMA_INVALID', /is not a media type/],
    [desc({ mediaType: '../x/y' }), 'OCIKIT_SCHEMA_INVALID', /is not a media type/],
    [desc({ size: -1 }), 'OCIKIT_SCHEMA_INVALID', /"size" must be a non-negative integer/],
    [desc({ size: 1.5 }), 'OCIKIT_SCHEMA_INVALID', /"size"/],
    [desc({ size: '7' }), 'OCIKIT_SCHEMA_INVALID', /"size"/],
    [desc({ size: 2 ** 53 }), 'OCIKIT_SCHEMA_INVALID', /"size"/],
    [desc({ size: Number.NaN }), 'OCIKIT_SCHEMA_INVALID', /"size"/],
    [desc({ size: undefined }), 'OCIKIT_SCHEMA_INVALID', /"size"/],
    [desc({ digest: 'sha256:../../x' }), 'OCIKIT_DIGEST_INVALID', /^d\.digest: /],
    [desc({ digest: undefined }), 'OCIKIT_DIGEST_INVALID', /not a string/],
    [desc({ urls: 'https://x' }), 'OCIKIT_SCHEMA_INVALID', /"urls" must be an array of strings/],
    [desc({ urls: [1] }), 'OCIKIT_SCHEMA_INVALID', /"urls"/],
    [desc({ annotations: ['a'] }), 'OCIKIT_SCHEMA_INVALID', /"annotations" must be an object/],
    [desc({ annotations: { a: 1 } }), 'OCIKIT_SCHEMA_INVALID', /annotation "a" must be a string/],
    [desc({ data: 1 }), 'OCIKIT_SCHEMA_INVALID', /"data" must be a string/],
    [
      desc({ platform: 'linux/amd64' }),
      'OCIKIT_SCHEMA_INVALID',
      /^d\.platform: must be a JSON object/,
    ],
    [desc({ platform: { os: 'linux' } }), 'OCIKIT_SCHEMA_INVALID', /"architecture"/],
    [
      desc({ platform: { os: 'linux', architecture: 'amd64', features: 'x' } }),
      'OCIKIT_SCHEMA_INVALID',
      /"features"/,
    ],
  ];
  for (const [value, code, message] of bad) {
    t.throws(
      () => parseDescriptor(value, 'd'),
      { code, message, hint: /.+/ },
      JSON.stringify(value),
    );
  }
});

t.test('parsePlatform (object)', async (t) => {
  t.same(
    parsePlatform({ os: 'linux', architecture: 'amd64', variant: '' }, 'p'),
    { os: 'linux', architecture: 'amd64' },
    'empty variant dropped',
  );
  t.throws(() => parsePlatform({ os: '', architecture: 'amd64' }, 'p'), SCHEMA);
  t.throws(
    () => parsePlatform({ os: 'linux', architecture: 'amd64', 'os.version': 10 }, 'p'),
    SCHEMA,
  );
});

t.test('parseImageIndex', async (t) => {
  const l = new Lenience();
  const idx = parseImageIndex(
    {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [desc()],
      annotations: { a: 'b' },
      subject: desc(),
    },
    'i',
    l,
  );
  t.same(idx, {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ mediaType: OCI_MANIFEST, digest: D, size: 7 }],
    annotations: { a: 'b' },
    subject: { mediaType: OCI_MANIFEST, digest: D, size: 7 },
  });
  t.same(
    parseImageIndex({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [] }, 'i', l).mediaType,
    DOCKER_LIST,
  );
  t.same(l.warnings, [], 'no warnings for conforming input');

  t.throws(() => parseImageIndex({ schemaVersion: 1, manifests: [] }, 'i', l), {
    ...SCHEMA,
    message: /"schemaVersion" is 1, expected 2/,
    hint: /schema version 2/,
  });
  t.throws(() => parseImageIndex({ schemaVersion: '2', manifests: [] }, 'i', l), {
    ...SCHEMA,
    message: /"schemaVersion" is "2"/,
  });
  t.throws(() => parseImageIndex({ schemaVersion: 2, manifests: {} }, 'i', l), {
    ...SCHEMA,
    message: /"manifests" must be an array/,
  });
  t.throws(
    () => parseImageIndex({ schemaVersion: 2, mediaType: OCI_MANIFEST, manifests: [] }, 'i', l),
    { ...SCHEMA, message: /not an image index/ },
  );
  t.throws(() => parseImageIndex({ schemaVersion: 2, config: desc(), layers: [] }, 'i', l), {
    ...SCHEMA,
    message: /is an image manifest, but an image index was expected/,
  });
  t.throws(() => parseImageIndex({ schemaVersion: 2, manifests: [desc({ size: -1 })] }, 'i', l), {
    ...SCHEMA,
    message: /^i\.manifests\[0\]: /,
  });
  t.throws(() => parseImageIndex({ schemaVersion: 2, mediaType: 7, manifests: [] }, 'i', l), {
    ...SCHEMA,
    message: /"mediaType" must be a string/,
  });
  t.throws(() => parseImageIndex('{}', 'i', l), SCHEMA);

  // rules_oci writes index.json without schemaVersion and mediaType.
  const lenient = new Lenience();
  t.same(parseImageIndex({ manifests: [desc()] }, 'index.json', lenient).schemaVersion, 2);
  t.same(
    lenient.warnings.map((w) => w.code),
    ['OCIKIT_W_NO_SCHEMA_VERSION'],
    'a missing mediaType is no deviation (optional in the spec; umoci, skopeo, buildx 0.13 omit it)',
  );
  const notLayout = new Lenience();
  parseImageIndex({ schemaVersion: 2, manifests: [] }, 'i', notLayout);
  t.same(notLayout.warnings, [], 'a missing mediaType is fine for an index blob (it is optional)');
  const nullList = new Lenience();
  t.same(parseImageIndex({ schemaVersion: 2, manifests: null }, 'i', nullList).manifests, []);
  t.same(
    nullList.warnings.map((w) => w.code),
    ['OCIKIT_W_NULL_LIST'],
  );

  t.match(
    caught(() => parseImageIndex({ manifests: [] }, 'index.json', new Lenience(true))),
    {
      ...SCHEMA,
      message: /"schemaVersion" is missing.*rejected by --strict/,
      details: { deviation: 'OCIKIT_W_NO_SCHEMA_VERSION' },
    },
  );
  t.same(
    parseImageIndex({ schemaVersion: 2, manifests: [] }, 'index.json', new Lenience(true))
      .manifests,
    [],
    '--strict accepts an index.json without mediaType',
  );
});

t.test('parseImageManifest', async (t) => {
  const l = new Lenience();
  const config = desc({ mediaType: OCI_CONFIG });
  const layer = desc({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
  t.same(
    parseImageManifest(
      { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] },
      'm',
      l,
    ).layers.length,
    1,
  );
  t.same(
    parseImageManifest({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [] }, 'm', l)
      .mediaType,
    DOCKER_MANIFEST,
  );
  t.same(
    parseImageManifest({ schemaVersion: 2, config, layers: [] }, 'm', l).mediaType,
    undefined,
    'mediaType optional',
  );
  t.same(l.warnings, []);

  t.throws(() => parseImageManifest({ schemaVersion: 2, layers: [] }, 'm', l), {
    ...SCHEMA,
    message: /"config" is missing/,
  });
  t.throws(() => parseImageManifest({ schemaVersion: 2, config: null, layers: [] }, 'm', l), {
    ...SCHEMA,
    message: /"config" is missing/,
  });
  t.throws(() => parseImageManifest({ schemaVersion: 2, manifests: [] }, 'm', l), {
    ...SCHEMA,
    message: /is an image index, but an image manifest was expected/,
  });
  t.throws(() => parseImageManifest({ schemaVersion: 1, name: 'x', fsLayers: [] }, 'm', l), {
    ...SCHEMA,
    message: /"schemaVersion" is 1/,
  });
  t.throws(
    () =>
      parseImageManifest({ schemaVersion: 2, mediaType: OCI_INDEX, config, layers: [] }, 'm', l),
    { ...SCHEMA, message: /not an image manifest/ },
  );
  t.throws(() => parseImageManifest({ schemaVersion: 2, config, layers: {} }, 'm', l), {
    ...SCHEMA,
    message: /"layers" must be an array/,
  });
  t.throws(
    () =>
      parseImageManifest(
        { schemaVersion: 2, config: desc({ digest: 'sha256:x' }), layers: [] },
        'm',
        l,
      ),
    { code: 'OCIKIT_DIGEST_INVALID', message: /^m\.config\.digest/ },
  );
  t.throws(
    () =>
      parseImageManifest(
        { schemaVersion: 2, config, layers: [], annotations: { a: null } },
        'm',
        l,
      ),
    SCHEMA,
  );

  const lenient = new Lenience();
  t.same(
    parseImageManifest({ schemaVersion: 2, config, layers: null }, 'm', lenient).layers,
    [],
    'layers: null is zero layers',
  );
  parseImageManifest({ schemaVersion: 2, config, layers: null }, 'm', lenient);
  t.same(
    lenient.warnings.map((w) => w.code),
    ['OCIKIT_W_NULL_LIST'],
    'the same deviation is reported once',
  );
  t.throws(
    () => parseImageManifest({ schemaVersion: 2, config, layers: null }, 'm', new Lenience(true)),
    {
      ...SCHEMA,
      message: /"layers" is null.*--strict/,
      hint: /without --strict/,
    },
  );
  t.throws(() => parseImageManifest({ schemaVersion: 2, config }, 'm', new Lenience(true)), {
    message: /"layers" is missing/,
  });
});

t.test('parseImageConfig', async (t) => {
  const l = new Lenience();
  const diff = `sha256:${'cd'.repeat(32)}`;
  t.same(
    parseImageConfig(
      {
        architecture: 'arm',
        os: 'linux',
        variant: 'v7',
        'os.version': '1',
        rootfs: { type: 'layers', diff_ids: [diff] },
        config: {},
      },
      'c',
      l,
    ),
    {
      architecture: 'arm',
      os: 'linux',
      variant: 'v7',
      'os.version': '1',
      rootfs: { type: 'layers', diff_ids: [diff] },
    },
  );
  t.same(
    parseImageConfig(
      {
        architecture: 'amd64',
        os: 'linux',
        variant: '',
        rootfs: { type: 'layers', diff_ids: null },
      },
      'c',
      l,
    ),
    {
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
    },
    'BuildKit scratch images: "diff_ids": null is normal, empty variant dropped',
  );
  t.same(l.warnings, []);
  t.throws(
    () => parseImageConfig({ os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, 'c', l),
    { ...SCHEMA, message: /"architecture"/ },
  );
  t.throws(
    () =>
      parseImageConfig(
        { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: 'x' } },
        'c',
        l,
      ),
    { ...SCHEMA, message: /^c\.rootfs: "diff_ids" must be an array/ },
  );
  t.throws(
    () =>
      parseImageConfig(
        {
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: ['sha256:../x'] },
        },
        'c',
        l,
      ),
    { code: 'OCIKIT_DIGEST_INVALID', message: /c\.rootfs\.diff_ids\[0\]/ },
  );
  t.throws(
    () => parseImageConfig({ architecture: 'amd64', os: 'linux', rootfs: [] }, 'c', l),
    SCHEMA,
  );
  t.throws(() => parseImageConfig(null, 'c', l), SCHEMA);

  const lenient = new Lenience();
  t.same(
    parseImageConfig({ architecture: 'amd64', os: 'linux' }, 'c', lenient).rootfs.diff_ids,
    [],
  );
  t.same(
    lenient.warnings.map((w) => w.code),
    ['OCIKIT_W_NO_ROOTFS'],
  );
  t.throws(
    () => parseImageConfig({ architecture: 'amd64', os: 'linux' }, 'c', new Lenience(true)),
    SCHEMA,
  );

  // go-containerregistry's empty.Image (crane append --oci-empty-base): "" for both.
  const empty = {
    architecture: '',
    os: '',
    rootfs: { type: 'layers', diff_ids: [] },
  };
  const gcr = new Lenience();
  const config = parseImageConfig(empty, 'c', gcr);
  t.equal(config.architecture, '');
  t.equal(config.os, '');
  t.same(
    gcr.warnings.map((w) => w.code),
    ['OCIKIT_W_NO_PLATFORM'],
  );
  t.throws(() => parseImageConfig(empty, 'c', new Lenience(true)), {
    ...SCHEMA,
    details: { deviation: 'OCIKIT_W_NO_PLATFORM' },
  });
  // Absent or of another type stays an error.
  t.throws(() => parseImageConfig({ os: 'linux', rootfs: empty.rootfs }, 'c', gcr), SCHEMA);
  t.throws(
    () => parseImageConfig({ architecture: 1, os: 'linux', rootfs: empty.rootfs }, 'c', gcr),
    SCHEMA,
  );
});

t.test('parseOciLayoutFile', async (t) => {
  t.same(parseOciLayoutFile({ imageLayoutVersion: '1.0.0' }, 'oci-layout'), {
    imageLayoutVersion: '1.0.0',
  });
  t.same(parseOciLayoutFile({ imageLayoutVersion: '1.1.0', extra: 1 }, 'oci-layout'), {
    imageLayoutVersion: '1.1.0',
  });
  for (const v of ['2.0.0', '1.0', '1', 'v1.0.0', '1.0.0-rc1', '']) {
    t.throws(
      () => parseOciLayoutFile({ imageLayoutVersion: v }, 'oci-layout'),
      { code: 'OCIKIT_LAYOUT_INVALID', hint: /1\.x/ },
      v,
    );
  }
  t.throws(() => parseOciLayoutFile({ imageLayoutVersion: 1 }, 'oci-layout'), SCHEMA);
  t.throws(() => parseOciLayoutFile({}, 'oci-layout'), SCHEMA);
  t.throws(() => parseOciLayoutFile([], 'oci-layout'), SCHEMA);
});

t.test('OcikitError', async (t) => {
  const e = new OcikitError(ErrorCode.BlobMissing, 'blob x not found', {
    hint: 'copy it',
    details: { digest: 'x' },
    cause: new Error('inner'),
  });
  t.ok(e instanceof Error);
  t.equal(e.name, 'OcikitError');
  t.same(e.toJSON(), {
    error: {
      code: 'OCIKIT_BLOB_MISSING',
      message: 'blob x not found',
      hint: 'copy it',
      digest: 'x',
    },
  });
  t.equal((e.cause as Error).message, 'inner');
  t.same(new OcikitError(ErrorCode.Internal, 'm').toJSON(), {
    error: { code: 'OCIKIT_INTERNAL', message: 'm', hint: '' },
  });
  t.ok(isOcikitError(e));
  t.ok(isOcikitError(e, ErrorCode.BlobMissing));
  t.notOk(isOcikitError(e, ErrorCode.BlobNotFile));
  t.notOk(isOcikitError(new Error('x')));
  t.equal(errnoCode(Object.assign(new Error('x'), { code: 'ENOENT' })), 'ENOENT');
  t.equal(errnoCode({ code: 1 }), undefined);
  t.equal(errnoCode(null), undefined);
  t.equal(errnoCode('ENOENT'), undefined);
  const codes = Object.values(ErrorCode);
  t.equal(new Set(codes).size, codes.length, 'codes are unique');
  t.ok(
    codes.every((c) => /^OCIKIT_[A-Z_]+$/.test(c)),
    'codes are OCIKIT_*',
  );
});
