// oci_layout_index with one image chosen per layout (layout_tags, layout_digests), run by the
// CLI in real actions: each merged index holds what the selection names, tags as asked, and the
// reports (`ocikit index --json`) say how the blobs were checked.
// Usage: index_pick_test.mjs TAG_LAYOUT TAG_REPORT DIGEST_LAYOUT DIGEST_REPORT INDEX_LAYOUT
//        INDEX_REPORT
import path from 'node:path';
import { AMD64, ARM64, expect, finish, readJson } from './checks.mjs';

const [tagLayout, tagReport, digestLayout, digestReport, indexLayout, indexReport] =
  process.argv.slice(2);
const top = (layout) => readJson(path.join(layout, 'index.json'));
const platforms = (layout, digest) =>
  readJson(path.join(layout, 'blobs', ...digest.split(':')))
    .manifests.map((m) => [m.platform.architecture, m.digest])
    .sort();
const tags = (layout) =>
  top(layout).manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']);

// layout_tags: hello-amd64 of the example (an image) + the arm64 archive; tag, then extra_tags.
const picked = top(tagLayout).manifests;
expect(
  'tag: one index, two entries (tag and extra_tags)',
  new Set(picked.map((m) => m.digest)).size,
  1,
);
expect('tag: tags', tags(tagLayout), ['picked', 'latest']);
expect('tag: platforms', platforms(tagLayout, picked[0].digest), [
  ['amd64', AMD64],
  ['arm64', ARM64],
]);
expect(
  'tag: sources',
  readJson(tagReport)
    .manifests.map((m) => m.source.replace(/^.*\/(?=[^/]+$)/, ''))
    .sort(),
  ['1', 'hello:hello-amd64'],
);
expect('tag: every blob taken was hashed', readJson(tagReport).blobs.verified > 0, true);

// layout_digests wins over layout_tags: amd64 only from the example, not the `hello` index.
const dig = top(digestLayout).manifests;
expect('digest: platforms', platforms(digestLayout, dig[0].digest), [
  ['amd64', AMD64],
  ['arm64', ARM64],
]);
expect('digest: untagged', tags(digestLayout), [undefined]);
expect('digest: trust_inputs (sizes only)', readJson(digestReport).blobs.verified, 0);
expect(
  'digest: the source names the digest',
  readJson(digestReport).manifests.some(
    (m) => m.source.endsWith(`hello:hello@${AMD64}`) || m.source.endsWith(`hello@${AMD64}`),
  ),
  true,
);

// layout_tags `hello`: the whole index of the example, both platforms.
const idx = top(indexLayout).manifests;
expect('index: platforms', platforms(indexLayout, idx[0].digest), [
  ['amd64', AMD64],
  ['arm64', ARM64],
]);
expect(
  'index: the source names the tag',
  readJson(indexReport).manifests.every((m) => m.source.endsWith('hello:hello')),
  true,
);
expect(
  'index: nothing converted (already OCI)',
  readJson(indexReport).manifests.map((m) => m.convertedFrom),
  [undefined, undefined],
);

finish(
  'per-layout tags and digests choose the images; tags, strict and trust_inputs reach the CLI',
);
