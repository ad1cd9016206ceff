#!/usr/bin/env bash
# Usage: registry_interop_test.sh NODE OCIKIT_MJS LAYOUT...
# buildx_build outputs through tools nobody here wrote (issue 11 item 10): Debian forky's
# docker-registry (the distribution registry) on 127.0.0.1, `crane push` and `skopeo copy` of
# each layout, `oras manifest fetch --oci-layout` of its root, then each pulled back BY DIGEST
# with the other tool (crane pulls skopeo's push, skopeo crane's). A pulled layout must hold the
# same root digest and the same blob files byte for byte, and pass `ocikit verify`.
# crane, skopeo, oras and docker-registry come from PATH: test/e2e/bazel.sh runs Bazel in the
# forky root filesystem, which has them (scripts/e2e/rootfs.sh).
set -euo pipefail
node="$1"
cli="$2"
shift 2
for tool in crane skopeo oras docker-registry; do
  command -v "$tool" >/dev/null || {
    echo "FAIL: $tool is not on PATH (a Debian forky package; test/e2e/bazel.sh runs Bazel in the forky root filesystem)" >&2
    exit 1
  }
done
tmp="${TEST_TMPDIR:?}"

# The registry: a port the kernel picked a moment ago, storage in TEST_TMPDIR.
# shellcheck disable=SC2016 # JavaScript, not shell
port="$("$node" -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
host="127.0.0.1:$port"
cat >"$tmp/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $tmp/registry
http:
  addr: $host
EOF
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
registry_pid=$!
trap 'kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true' EXIT
up=0
for _ in $(seq 1 200); do
  # shellcheck disable=SC2016 # JavaScript, not shell
  if "$node" -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "http://$host/v2/"; then
    up=1
    break
  fi
  sleep 0.1
done
if ((!up)); then
  echo "FAIL: docker-registry does not answer on $host:" >&2
  cat "$tmp/registry.log" >&2
  exit 1
fi
echo "registry: $(docker-registry --version 2>&1 | head -n 1) on $host"

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# same_blobs A B: the same blob files, byte for byte (-L: runfiles are symlinks).
same_blobs() {
  local a="$1" b="$2" f
  if [[ "$(cd "$a/blobs" && find -L . -type f | sort)" != "$(cd "$b/blobs" && find -L . -type f | sort)" ]]; then
    echo "blob sets differ: $(diff <(cd "$a/blobs" && find -L . -type f | sort) <(cd "$b/blobs" && find -L . -type f | sort) | tr '\n' ' ')"
    return 1
  fi
  while read -r f; do
    cmp -s "$a/blobs/$f" "$b/blobs/$f" || {
      echo "$f differs"
      return 1
    }
  done < <(cd "$a/blobs" && find -L . -type f)
}

n=0
for layout in "$@"; do
  n=$((n + 1))
  name="image$n"
  # shellcheck disable=SC2016 # JavaScript, not shell
  read -r digest media_type < <("$node" -e '
    const m = JSON.parse(require("fs").readFileSync(process.argv[1] + "/index.json", "utf8")).manifests;
    if (m.length !== 1) throw new Error(`${m.length} index.json entries`);
    console.log(m[0].digest, m[0].mediaType);
  ' "$layout")
  echo "== $layout: $media_type $digest"

  fetched="$(oras manifest fetch --oci-layout "$layout@$digest" | sha256sum | cut -d' ' -f1)"
  [[ "sha256:$fetched" == "$digest" ]] || fail "$layout: oras manifest fetch --oci-layout gave sha256:$fetched"

  pushed="$(crane push --insecure "$layout" "$host/crane/$name:bazel")" || fail "$layout: crane push"
  [[ "$pushed" == "$host/crane/$name@$digest" ]] || fail "$layout: crane push printed '$pushed'"
  skopeo copy --quiet --all --preserve-digests --dest-tls-verify=false --digestfile "$tmp/$name.digest" \
    "oci:$layout" "docker://$host/skopeo/$name:bazel" || fail "$layout: skopeo copy oci: docker://"
  [[ "$(cat "$tmp/$name.digest" 2>/dev/null)" == "$digest" ]] || fail "$layout: skopeo's digest is not $digest"

  crane pull --insecure --format=oci "$host/skopeo/$name@$digest" "$tmp/crane-$name" ||
    fail "$layout: crane pull --format=oci by digest"
  skopeo copy --quiet --all --preserve-digests --src-tls-verify=false \
    "docker://$host/crane/$name@$digest" "oci:$tmp/skopeo-$name:bazel" ||
    fail "$layout: skopeo copy docker://...@digest oci:"
  for pulled in "$tmp/crane-$name" "$tmp/skopeo-$name"; do
    what="${pulled##*/}"
    grep -Eq "\"digest\": ?\"$digest\"" "$pulled/index.json" 2>/dev/null || fail "$what: index.json does not name $digest"
    why="$(same_blobs "$layout" "$pulled")" || fail "$what: $why"
    "$node" "$cli" verify "$pulled" --digest "$digest" >"$tmp/verify.log" 2>&1 || {
      cat "$tmp/verify.log" >&2
      fail "$what: ocikit verify"
    }
  done
  ((failures > 0)) || echo "ok: pushed with crane and skopeo as $digest, pulled back by digest identical, verified"
done
((failures == 0)) || exit 1
