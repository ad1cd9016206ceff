/**
 * The one graph walk: shared subtrees read once, one depth limit, cycles caught, contexts
 * (tags, platforms, attestations) recorded; and the commands standing on it agree.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { MAX_INDEX_DEPTH, manifestsBelow, walkGraph } from '../src/layout/graph.js';
import { inspectLayout } from '../src/layout/inspect.js';
import { openLayout } from '../src/layout/layout.js';
import { verifyLayout } from '../src/layout/verify.js';
import { cli } from './helpers/cli.js';
import { LayoutBuilder, OCI_INDEX, tagged } from './helpers/layout-builder.js';

t.test('a shared subtree is walked once: 32 x 32 x 32 x 32 references, 6 nodes', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  let d = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: 'a' }] });
  for (let level = 0; level < 4; level++) d = b.index(Array.from({ length: 32 }, () => d));
  b.writeIndex([tagged(d, 'wide')]);
  const layout = await openLayout(dir);
  const graph = await walkGraph(layout, [{ descriptor: layout.index.manifests[0]!, tag: 'wide' }]);
  t.equal(graph.nodes.size, 4 + 1 + 2, '4 indexes, 1 manifest, its config and layer');
  const summary = await inspectLayout(layout);
  t.equal(summary.images[0]?.manifests.length, 1, 'inspect lists the image once');
  const json = await cli(['inspect', dir, '--json'], dir);
  t.equal(json.code, 0);
  t.ok(json.stdout.length < 4000, `inspect --json output is small (${json.stdout.length} bytes)`);
  const report = await verifyLayout(layout);
  t.equal(report.ok, true);
  t.equal(report.blobs, 7);
});

t.test('one depth limit for every command: a chain deeper than the limit', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  let d = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
  for (let level = 0; level < 500; level++) d = b.index([d]);
  b.writeIndex([tagged(d, 'deep')]);
  const layout = await openLayout(dir);
  await t.rejects(walkGraph(layout, [{ descriptor: layout.index.manifests[0]! }]), {
    code: 'OCIKIT_NESTING_TOO_DEEP',
  });
  const tolerant = await walkGraph(layout, [{ descriptor: layout.index.manifests[0]! }], {
    tolerant: true,
  });
  const deepest = [...tolerant.nodes.values()].filter((n) => n.problem !== undefined);
  t.equal(deepest.length, 1);
  t.equal(deepest[0]?.depth, MAX_INDEX_DEPTH + 1);
  t.equal(tolerant.nodes.size, MAX_INDEX_DEPTH + 2, 'nothing below the limit is read');
  for (const args of [
    ['inspect', dir],
    ['inspect', dir, '--json'],
    ['verify', dir],
    ['pack', dir, '--out', path.join(dir, '..', `${path.basename(dir)}.tar`)],
  ]) {
    const r = await cli(args, dir);
    t.equal(r.code, 1, args.join(' '));
    t.match(r.stdout + r.stderr, /OCIKIT_NESTING_TOO_DEEP/, args.join(' '));
  }
  // Exactly at the limit is fine.
  const okDir = path.join(dir, '..', `${path.basename(dir)}-ok`);
  const ok = new LayoutBuilder(okDir);
  let e = ok.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
  for (let level = 0; level <= MAX_INDEX_DEPTH; level++) e = ok.index([e]);
  ok.writeIndex([tagged(e, 'limit')]);
  const atLimit = await openLayout(okDir);
  t.equal(
    (await walkGraph(atLimit, [{ descriptor: atLimit.index.manifests[0]! }])).nodes.size,
    MAX_INDEX_DEPTH + 1 + 2,
  );
  t.equal((await inspectLayout(atLimit)).images[0]?.manifests.length, 1);
});

t.test('a reference back to an ancestor is a cycle', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  // An index stored under a name that is not its digest, naming that name: a cycle that only
  // a corrupt layout can hold.
  const fake = `sha256:${'c'.repeat(64)}`;
  const doc = (size: number) =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_INDEX, digest: fake, size }],
    });
  let size = doc(0).length;
  while (doc(size).length !== size) size = doc(size).length;
  const padded = doc(size);
  writeFileSync(path.join(dir, 'blobs/sha256', 'c'.repeat(64)), padded);
  b.writeIndex([{ mediaType: OCI_INDEX, digest: fake, size }]);
  const layout = await openLayout(dir);
  const graph = await walkGraph(layout, [{ descriptor: layout.index.manifests[0]! }], {
    tolerant: true,
    verifyDigests: false,
  });
  t.same(graph.cycles, [{ parent: fake, child: fake }]);
  t.equal(graph.nodes.get(fake)?.problem?.code, 'OCIKIT_REFERENCE_CYCLE');
});

t.test(
  'contexts: tags from roots, platforms from index entries, attestations marked',
  async (t) => {
    const dir = t.testdir();
    const b = new LayoutBuilder(dir);
    const amd = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: 'a' }] });
    const arm = b.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [] });
    const att = {
      ...b.image({
        platform: { os: 'unknown', architecture: 'unknown' },
        layers: [],
        platformOnDescriptor: false,
      }),
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: {
        'vnd.docker.reference.type': 'attestation-manifest',
        'vnd.docker.reference.digest': amd.digest,
      },
    };
    const idx = b.index([amd, arm, att]);
    b.writeIndex([tagged(idx, 'multi'), tagged(idx, 'again')]);
    const layout = await openLayout(dir);
    const graph = await walkGraph(
      layout,
      layout.index.manifests.map((d) => ({
        descriptor: d,
        tag: d.annotations!['org.opencontainers.image.ref.name']!,
      })),
    );
    const amdNode = graph.nodes.get(amd.digest)!;
    t.same(amdNode.contexts.map((c) => `${c.tag}/${c.platform}/${c.attestation}`).sort(), [
      'again/linux/amd64/false',
      'multi/linux/amd64/false',
    ]);
    t.ok(graph.nodes.get(att.digest)!.contexts.every((c) => c.attestation));
    t.same(
      manifestsBelow(graph, idx.digest).map((n) => n.digest),
      [amd.digest, arm.digest, att.digest],
    );
  },
);

t.test(
  '32k index.json entries naming one manifest: each blob read once, reports bounded',
  async (t) => {
    const dir = t.testdir();
    const b = new LayoutBuilder(dir);
    const img = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
    b.writeIndex(Array.from({ length: 32768 }, (_, i) => tagged(img, `t${i}`)));
    const layout = await openLayout(dir);
    let reads = 0;
    const read = layout.readJsonBlob.bind(layout);
    layout.readJsonBlob = (...args: Parameters<typeof read>) => {
      reads++;
      return read(...args);
    };
    const report = await verifyLayout(layout);
    t.equal(report.ok, true);
    t.equal(report.blobs, 2, 'the manifest and its config');
    t.ok(reads <= 6, `JSON blobs read ${reads} times (not once per entry)`);
    // The one tag map is built in one pass: a duplicated tag among 32k is still found.
    b.writeIndex([
      ...Array.from({ length: 32767 }, (_, i) => tagged(img, `t${i}`)),
      tagged(b.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [] }), 't7'),
    ]);
    const dup = await verifyLayout(await openLayout(dir));
    t.same([...new Set(dup.problems.map((p) => p.code))], ['OCIKIT_TAG_AMBIGUOUS']);
  },
);

t.test('resolve --platform through a shared subtree reads each index once', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const amd = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
  const arm = b.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [] });
  let d = b.index([amd, arm]);
  for (let level = 0; level < 4; level++) d = b.index(Array.from({ length: 32 }, () => d));
  b.writeIndex([tagged(d, 'wide')]);
  const r = await cli(['resolve', dir, '--tag', 'wide', '--platform', 'linux/arm64'], dir);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `${arm.digest}\n`, 'one candidate per platform, not 32^4');
});
