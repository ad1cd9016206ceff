#!/usr/bin/env bash
# Usage: scripts/lint-bzl.sh [--fix]
#
# buildifier format + lint check of every Starlark file in the repository (MODULE.bazel,
# BUILD.bazel, *.bzl; the e2e/ workspace included). All warnings are on except native-sh-test /
# native-sh-binary: the tests use Bazel 7's native sh_test/sh_binary because rules_shell cannot
# be fetched offline (Debian's Bazel). --fix rewrites the files (format + fixable warnings).
# buildifier: node_modules/.bin/buildifier (devDependency @bazel/buildifier), else
# $OCIKIT_BUILDIFIER, else `npx --yes @bazel/buildifier@8.2.1`.
# Exit 0 when clean; prints "lint:bzl: N files ok" or the problems.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=(-mode=check -lint=warn)
if [[ "${1:-}" == --fix ]]; then mode=(-mode=fix -lint=fix); fi

if [[ -x node_modules/.bin/buildifier ]]; then
  buildifier=(node_modules/.bin/buildifier)
elif [[ -n "${OCIKIT_BUILDIFIER:-}" ]]; then
  buildifier=("$OCIKIT_BUILDIFIER")
else
  buildifier=(npx --yes @bazel/buildifier@8.2.1)
fi

# "all" minus the two native-sh-* warnings (buildifier cannot mix "all" with "-name").
warnings="$("${buildifier[@]}" -config=example | tr -d ' \n' | grep -o '"warningsList":\[[^]]*\]' |
  grep -o '"[a-z_-]*"' | tr -d '"' | grep -v -x -e warningsList -e native-sh-test -e native-sh-binary | paste -sd, -)"
[[ -n "$warnings" ]] || { echo "lint:bzl: cannot read buildifier's warning list" >&2; exit 1; }

mapfile -t files < <(git ls-files -co --exclude-standard -- '*.bzl' '*.bazel' '*/BUILD' 'BUILD' |
  grep -v -e '^node_modules/' -e '/bazel-' | LC_ALL=C sort)
((${#files[@]} > 0)) || { echo "lint:bzl: no Starlark files found" >&2; exit 1; }

if "${buildifier[@]}" "${mode[@]}" -warnings="$warnings" "${files[@]}"; then
  echo "lint:bzl: ${#files[@]} files ok"
else
  echo "lint:bzl: problems above (scripts/lint-bzl.sh --fix formats and fixes what it can)" >&2
  exit 1
fi
