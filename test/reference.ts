/**
 * One reference grammar: `NAME=LAYOUT[:TAG][@DIGEST]` split where LAYOUT exists, tags as
 * producers write them (full names, registry ports), buildx-safe names in thin copies.
 */
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  buildxSafeTag,
  checkTag,
  refCandidates,
  resolveLayoutRef,
} from '../src/layout/reference.js';
import { parseBuildxVersion } from '../src/buildx/compat.js';
import { prepareContexts } from '../src/ops/context.js';
import { cli } from './helpers/cli.js';
import { LayoutBuilder, tagged } from './helpers/layout-builder.js';

const D = `sha256:${'a'.repeat(64)}`;

t.test('refCandidates: every split of PATH[:TAG][@DIGEST], longest path first', async (t) => {
  const table: [string, { path: string; tag?: string; digest?: string }[]][] = [
    ['./layout', [{ path: './layout' }]],
    ['./layout:v1', [{ path: './layout:v1' }, { path: './layout', tag: 'v1' }]],
    [
      `dir:docker.io/example/app:v1@${D}`,
      [
        { path: `dir:docker.io/example/app:v1@${D}` },
        { path: 'dir:docker.io/example/app:v1', digest: D },
        { path: 'dir:docker.io/example/app', tag: 'v1', digest: D },
        { path: 'dir', tag: 'docker.io/example/app:v1', digest: D },
      ],
    ],
  ];
  for (const [value, want] of table) {
    const got = refCandidates(value);
    for (const w of want)
      t.ok(
        got.some((g) => JSON.stringify(g) === JSON.stringify(w)),
        `${value}: ${JSON.stringify(w)}`,
      );
    const lengths = got.map((g) => g.path.length);
    t.same(
      lengths,
      [...lengths].sort((a, b) => b - a),
      `${value}: longest path first`,
    );
  }
  t.same(refCandidates(':v1'), [{ path: ':v1' }], 'no empty path');
});

t.test('checkTag takes what producers write and refuses the rest', async (t) => {
  for (const ok of ['v1', 'app:v1', 'docker.io/example/app:v1', 'localhost:5000/team/app:v1'])
    t.equal(checkTag(ok), ok);
  for (const bad of ['', 'a b', 'a\nb', '-x', '.x', `app@${D}`, 'x'.repeat(1025)])
    t.throws(() => checkTag(bad), { code: 'OCIKIT_USAGE' }, JSON.stringify(bad.slice(0, 20)));
});

t.test('buildxSafeTag: a Docker tag standing for any tag', async (t) => {
  const table: [string, string][] = [
    ['v1', 'v1'],
    ['docker.io/example/app:v1', 'v1'],
    ['localhost:5000/team/app:v1.2-rc', 'v1.2-rc'],
    ['localhost:5000/team/app', 'localhost-5000-team-app'],
    ['app/x', 'app-x'],
    ['///', 'latest'],
  ];
  for (const [tag, want] of table) t.equal(buildxSafeTag(tag), want, tag);
});

t.test('the Starlark is_tag() keeps the CLI grammar', async (t) => {
  // rules/private/common.bzl is_tag: the characters and the length rule, read from the source.
  const bzl = readFileSync(path.join(import.meta.dirname, '../rules/private/common.bzl'), 'utf8');
  const body = bzl.slice(bzl.indexOf('def is_tag('), bzl.indexOf('def is_platform('));
  t.match(body, 'len(s) > 1024');
  t.match(body, 'c not in ".-:/+"');
  t.match(bzl, /_TAG_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"/);
});

/** A one-image layout whose manifest carries the given names. */
function named(dir: string, names: Record<string, string>): string {
  const b = new LayoutBuilder(dir);
  const img = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: 'a' }] });
  b.writeIndex([{ ...img, annotations: names }]);
  return img.digest;
}

t.test('resolveLayoutRef splits where the layout exists', async (t) => {
  const root = t.testdir();
  named(path.join(root, 'odd', 'lay:out'), { 'org.opencontainers.image.ref.name': 'v1' });
  named(path.join(root, 'odd', 'lay@out'), { 'org.opencontainers.image.ref.name': 'v1' });
  named(path.join(root, 'plain'), { 'org.opencontainers.image.ref.name': 'v1' });
  const r = (v: string) => resolveLayoutRef(v, root, 'test');
  t.same((await r('odd/lay:out'))?.ref, { path: 'odd/lay:out' });
  t.same((await r('odd/lay:out:v1'))?.ref, { path: 'odd/lay:out', tag: 'v1' });
  t.same((await r('odd/lay@out:v1'))?.ref, { path: 'odd/lay@out', tag: 'v1' }, 'not a digest');
  t.same((await r('plain:docker.io/example/app:v1'))?.ref, {
    path: 'plain',
    tag: 'docker.io/example/app:v1',
  });
  t.same((await r(`plain:localhost:5000/team/app:v1@${D}`))?.ref, {
    path: 'plain',
    tag: 'localhost:5000/team/app:v1',
    digest: D,
  });
  t.equal(await r('nosuch:v1'), undefined);
  // Two readings that both name layouts.
  named(path.join(root, 'a'), {});
  named(path.join(root, 'a:b'), {});
  await t.rejects(r('a:b'), { code: 'OCIKIT_REF_AMBIGUOUS' });
  await t.rejects(r(`plain:v1@sha256:zz`), { code: 'OCIKIT_DIGEST_INVALID' });
});

t.test('full reference names as tags: context, buildx-args, never in place', async (t) => {
  const root = t.testdir({ out: {}, app: { Dockerfile: 'FROM base\n' } });
  const dir = path.join(root, 'layout');
  const digest = named(dir, {
    'org.opencontainers.image.ref.name': 'docker.io/example/app:v1',
    'io.containerd.image.name': 'localhost:5000/team/app:v1',
  });
  for (const tag of ['docker.io/example/app:v1', 'localhost:5000/team/app:v1']) {
    const out = path.join(root, `out-${tag.length}`);
    const r = await prepareContexts([{ name: 'base', ref: { path: dir, tag } }], {
      out,
      buildx: parseBuildxVersion('0.13.1'),
    });
    const [c] = r.contexts;
    t.equal(c?.descriptor.digest, digest, tag);
    t.equal(c?.tag, 'v1');
    t.equal(c?.sourceTag, tag);
    t.equal(c?.value, `oci-layout://${out}/base:v1@${digest}`);
    t.ok(r.warnings.some((w) => w.code === 'OCIKIT_W_TAG_RENAMED'));
    const index = JSON.parse(readFileSync(path.join(out, 'base', 'index.json'), 'utf8'));
    t.match(index.manifests[0].annotations, {
      'org.opencontainers.image.ref.name': 'v1',
      'io.ocikit.source-ref-name': tag,
    });
  }
  await t.rejects(
    prepareContexts([{ name: 'base', ref: { path: dir, tag: 'docker.io/example/app:v1' } }], {
      mode: 'in-place',
      buildx: parseBuildxVersion('0.29.1'),
    }),
    { code: 'OCIKIT_IN_PLACE_UNSAFE' },
  );
  const viaCli = await cli(
    [
      'context',
      'base=layout:docker.io/example/app:v1',
      '--buildx-version',
      '0.29.1',
      '--out',
      'c1',
    ],
    root,
  );
  t.equal(viaCli.code, 0, viaCli.stderr);
  t.equal(viaCli.stdout, `base=oci-layout://${root}/c1/base:v1@${digest}\n`);
  const args = await cli(
    [
      'buildx-args',
      '--buildx-version',
      '0.29.1',
      '--build-context',
      'base=layout:docker.io/example/app:v1',
      '--out',
      'c2',
      '--format',
      'lines',
      'app',
    ],
    root,
  );
  t.equal(args.code, 0, args.stderr);
  t.match(args.stdout, `base=oci-layout://${root}/c2/base:v1@${digest}\n`, 'not passed through');
  const scheme = await cli(
    ['context', `base=oci-layout://${root}/nosuch:v1`, '--out', 'c3', '--buildx-version', '0.29.1'],
    root,
  );
  t.equal(scheme.code, 1);
  t.match(scheme.stderr, /OCIKIT_LAYOUT_NOT_FOUND.*nosuch:v1.*nosuch/);
});

t.test('context and buildx-args split the same way', async (t) => {
  const root = t.testdir({ app: { Dockerfile: 'FROM base\n' } });
  mkdirSync(path.join(root, 'odd'));
  const digest = named(path.join(root, 'odd', 'lay:out'), {
    'org.opencontainers.image.ref.name': 'v1',
  });
  cpSync(path.join(root, 'odd', 'lay:out'), path.join(root, 'odd', 'lay@out'), { recursive: true });
  for (const [i, value] of ['odd/lay:out', 'odd/lay:out:v1', 'odd/lay@out:v1'].entries()) {
    const a = await cli(
      ['context', `base=${value}`, '--buildx-version', '0.29.1', '--out', `x${i}`],
      root,
    );
    t.equal(a.code, 0, a.stderr);
    t.match(a.stdout, digest);
    const b = await cli(
      [
        'buildx-args',
        '--buildx-version',
        '0.29.1',
        '--build-context',
        `base=${value}`,
        '--out',
        `y${i}`,
        'app',
      ],
      root,
    );
    t.equal(b.code, 0, b.stderr);
    t.match(b.stdout, digest, `${value}: buildx-args pins it too`);
  }
});

t.test('a tag matching an annotation key in a layout with tagged()', async (t) => {
  const root = t.testdir();
  const b = new LayoutBuilder(path.join(root, 'l'));
  const img = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
  b.writeIndex([tagged(img, 'docker.io/library/base:1', 'io.containerd.image.name')]);
  const r = await cli(['resolve', 'l', '--tag', 'docker.io/library/base:1'], root);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `${img.digest}\n`);
});
