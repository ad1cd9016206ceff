#!/usr/bin/env bash
# Usage: app2_content_test.sh NODE LAYOUT
# The chained image (FROM app, itself FROM base) has the files of all three builds.
set -euo pipefail
node="$1"
layout="$2"
# shellcheck disable=SC2016 # JavaScript, not shell
blobs="$("$node" -e '
const fs = require("fs"), path = require("path");
const dir = process.argv[1];
const blob = (d) => path.join(dir, "blobs", ...d.split(":"));
const read = (d) => JSON.parse(fs.readFileSync(blob(d), "utf8"));
let m = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")).manifests[0];
while (m.mediaType.endsWith("image.index.v1+json")) {
  m = read(m.digest).manifests.find((x) => x.platform && x.platform.architecture === "amd64");
}
for (const l of read(m.digest).layers) console.log(blob(l.digest));
' "$layout")"
files=""
while read -r b; do files+="$(tar -tf "$b")"$'\n'; done <<<"$blobs"
for want in base.txt app.txt app2.txt; do
  if ! grep -Eqx "(\./)?$want" <<<"$files"; then
    printf 'FAIL: /%s is not in the chained image; its layers hold:\n%s' "$want" "$files"
    exit 1
  fi
done
echo "ok: the chained image has base.txt, app.txt and app2.txt"
