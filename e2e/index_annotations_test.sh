#!/usr/bin/env bash
# Usage: index_annotations_test.sh NODE LAYOUT
# oci_layout_index of two per-platform buildx_builds kept every annotation: the index's own
# (annotations), its index.json entry's (index-descriptor:) and tag, each platform's descriptor
# annotation (buildx manifest-descriptor:) and each manifest's (buildx manifest:).
set -euo pipefail
# shellcheck disable=SC2016 # JavaScript, not shell
"$1" -e '
const fs = require("fs"), path = require("path");
const dir = process.argv[1];
const read = (d) => JSON.parse(fs.readFileSync(path.join(dir, "blobs", ...d.split(":")), "utf8"));
const problems = [];
const want = (what, got, value) => {
  if (got !== value) problems.push(`${what}: ${JSON.stringify(got)}, want ${JSON.stringify(value)}`);
};
const top = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")).manifests;
want("index.json entries", top.length, 1);
const entry = top[0].annotations || {};
want("tag (index.json entry)", entry["org.opencontainers.image.ref.name"], "1.0");
want("index-descriptor: annotation", entry["org.example.note"], "merged by oci_layout_index");
const index = read(top[0].digest);
want("index annotation", (index.annotations || {})["org.opencontainers.image.version"], "1.0");
const arches = [];
for (const d of index.manifests) {
  const arch = d.platform && d.platform.architecture;
  arches.push(arch);
  want(`${arch}: descriptor annotation`, (d.annotations || {})["org.example.arch"], arch);
  want(`${arch}: manifest annotation`, (read(d.digest).annotations || {})["org.opencontainers.image.title"], `app-${arch}`);
}
want("platforms", arches.sort().join(","), "amd64,arm64");
if (problems.length > 0) { console.error(problems.join("\n")); process.exit(1); }
console.log("ok: index, descriptor and manifest annotations kept for amd64 and arm64");
' "$2"
