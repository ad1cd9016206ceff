// oci_layout_index of two one-platform archives: one index over both platforms, the index
// annotations and the index.json entry's annotation and tag as asked, and usable as a layout.
// Usage: index_test.mjs MERGED_LAYOUT ARM64_RESOLVE_JSON TAR_AMD64_RESOLVE_JSON DIR_AMD64_RESOLVE_JSON
import path from 'node:path';
import { AMD64, ARM64, expect, finish, readJson } from './checks.mjs';

const [layout, arm64Json, tarAmd64Json, dirAmd64Json] = process.argv.slice(2);
const blob = (digest) => readJson(path.join(layout, 'blobs', ...digest.split(':')));

const top = readJson(path.join(layout, 'index.json'));
expect('index.json entries', top.manifests.length, 1);
const entry = top.manifests[0];
expect('index.json entry annotations', entry.annotations, {
  'org.example.note': 'merged',
  'org.opencontainers.image.ref.name': 'hello',
});
const index = blob(entry.digest);
expect('index annotations', index.annotations, { 'org.opencontainers.image.version': '1.0' });
expect('index manifests', index.manifests.map((m) => [m.platform.architecture, m.digest]).sort(), [
  ['amd64', AMD64],
  ['arm64', ARM64],
]);
expect('resolve of the merged layout, arm64', readJson(arm64Json).descriptor.digest, ARM64);
expect(
  'resolve of a packed layout equals resolve of the directory',
  readJson(tarAmd64Json).descriptor,
  readJson(dirAmd64Json).descriptor,
);
finish('one index over amd64 and arm64, annotations kept, usable as a layout');
