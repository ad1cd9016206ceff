#!/usr/bin/env bash
# Usage: reproducible_test.sh NODE REPORT LAYOUT
# buildx_build is reproducible by default: its report says SOURCE_DATE_EPOCH 0 with
# rewrite-timestamp asked for, and every layer of the image (COPY of a freshly staged file, so
# newer than the epoch) carries BuildKit's buildkit/rewritten-timestamp annotation.
set -euo pipefail
node="$1"
report="$2"
layout="$3"
# shellcheck disable=SC2016 # JavaScript, not shell
"$node" -e '
const fs = require("fs"), path = require("path");
const [report, dir] = process.argv.slice(1);
const r = JSON.parse(fs.readFileSync(report, "utf8")).reproducible;
const want = { sourceDateEpoch: "0", from: "build-arg", rewriteTimestamp: true, supported: true };
for (const [k, v] of Object.entries(want))
  if (r?.[k] !== v) throw new Error(`report reproducible.${k} is ${JSON.stringify(r?.[k])}, want ${JSON.stringify(v)}`);
const blob = (d) => path.join(dir, "blobs", ...d.split(":"));
const read = (d) => JSON.parse(fs.readFileSync(blob(d), "utf8"));
let m = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")).manifests[0];
while (m.mediaType.endsWith("image.index.v1+json")) m = read(m.digest).manifests[0];
const manifest = read(m.digest);
const last = manifest.layers[manifest.layers.length - 1];
if (last?.annotations?.["buildkit/rewritten-timestamp"] !== "0")
  throw new Error(`the COPY layer was not rewritten: ${JSON.stringify(last)}`);
const created = read(manifest.config.digest).created;
if (created !== "1970-01-01T00:00:00Z") throw new Error(`config created ${created}`);
console.log("ok: SOURCE_DATE_EPOCH 0, rewrite-timestamp, layer rewritten, created 1970-01-01T00:00:00Z");
' "$report" "$layout"
