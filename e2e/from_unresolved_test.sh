#!/usr/bin/env bash
# Usage: from_unresolved_test.sh NODE CLI CONFIG CONTEXT_DIR
# buildx_build's Dockerfile check, run on the rule's own config and staged Dockerfile (:from_typo:
# FROM base, context named basee): `ocikit build --hermetic` refuses with OCIKIT_FROM_UNRESOLVED
# naming the image and the near-miss context, before any docker is run (the docker given here
# does not exist: reaching it would be OCIKIT_BUILDX_MISSING).
set -euo pipefail
node="$1"
cli="$2"
config="$3"
context="$4"
work="${TEST_TMPDIR:-$(mktemp -d)}"
# The config names execroot paths; point it at the runfiles (the layout values are not read by
# the check, only the context names).
# shellcheck disable=SC2016 # JavaScript, not shell
"$node" -e '
const fs = require("fs"), path = require("path");
const [config, context, out] = process.argv.slice(1);
const c = JSON.parse(fs.readFileSync(config, "utf8"));
const file = path.relative(c.context, c.file);
c.context = context;
c.file = path.join(context, file);
c.buildContext = c.buildContext.map((v) => `${v.split("=")[0]}=docker-image://example.invalid/unused`);
fs.writeFileSync(out, JSON.stringify(c));
' "$config" "$context" "$work/config.json"
set +e
"$node" "$cli" build --hermetic --unused-context error --config "$work/config.json" \
  --docker /nonexistent/docker --buildx-version 0.29.1 --out "$work/out" --json >"$work/out.json" 2>"$work/err.txt"
rc=$?
set -e
# shellcheck disable=SC2016 # JavaScript, not shell
if [[ "$rc" == 1 ]] && "$node" -e '
const e = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).error;
if (e.code !== "OCIKIT_FROM_UNRESOLVED") throw new Error(`code ${e.code}: ${e.message}`);
if (e.pulls?.[0]?.name !== "base" || e.pulls[0].pull !== "docker.io/library/base:latest") throw new Error(JSON.stringify(e.pulls));
if (!/did you mean the context "basee"/.test(e.message)) throw new Error(e.message);
' "$work/out.json" && [[ ! -e "$work/out" ]]; then
  echo "ok: OCIKIT_FROM_UNRESOLVED for FROM base (context basee), before docker; no output"
else
  echo "FAIL: exit $rc"
  cat "$work/out.json" "$work/err.txt"
  exit 1
fi
