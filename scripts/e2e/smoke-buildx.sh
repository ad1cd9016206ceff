#!/usr/bin/env bash
# Usage: scripts/e2e/smoke-buildx.sh SUITE        (SUITE = trixie | forky)
#
# End-to-end proof of the chain ocikit relies on, with the SUITE's dockerd/buildx:
#   1. start the daemon (dockerd.sh) in a temporary STATE_DIR and source STATE_DIR/env
#   2. docker buildx build --output type=oci,dest=LAYOUT,tar=false,name=smoke:v1
#      of `FROM scratch` + `COPY hello.txt /`  -> an OCI layout (digest from index.json)
#   3. read-only bind mount of LAYOUT (in a private mount namespace of the client)
#   4. FROM base with --build-context base=oci-layout://RO@sha256:DIGEST      -> must build
#      FROM base with --build-context base=oci-layout://RO:v1@sha256:DIGEST   -> must build
#      FROM base with --build-context base=oci-layout://RO:v1 (tag only)
#        trixie (buildx 0.13.1): must FAIL with "could not lock .../index.json.lock"
#        forky  (buildx 0.29.1): must build (EROFS on the lock file is tolerated)
#   5. stop the daemon
# Prints what it observed and timings; exits 0 only if every expectation holds. Root only.
# Keeps the work directory when OCIKIT_KEEP=1.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

[[ $# -eq 1 ]] || die "usage: $0 SUITE   (trixie | forky)"
suite="$1"
ocikit_suite_ok "$suite" || die "unknown suite '$suite'"
[[ "$(id -u)" -eq 0 ]] || die "must run as root"

work="$(mktemp -d /tmp/ocikit-smoke-"$suite".XXXXXX)"
state="$work/state"
failures=0
checks=0
started=""
finish() {
  local rc=$?
  if [[ -n "$started" ]]; then "$here/dockerd.sh" stop "$state" || true; fi
  if [[ "${OCIKIT_KEEP:-0}" == 1 ]]; then log "kept $work"; else rm -rf --one-file-system "$work"; fi
  exit "$rc"
}
trap finish EXIT

ms() { date +%s%3N; }
observe() { printf 'OBSERVED %s\n' "$*"; }
expect() { # expect OK|FAIL WHAT: record a check
  checks=$((checks + 1))
  if [[ "$1" == OK ]]; then observe "PASS  $2"; else observe "FAIL  $2"; failures=$((failures + 1)); fi
}

t=$(ms)
"$here/rootfs.sh" "$suite" >/dev/null
t_rootfs=$(($(ms) - t))
t=$(ms)
"$here/dockerd.sh" start "$suite" "$state" >/dev/null
started=1
t_start=$(($(ms) - t))
# shellcheck disable=SC1091 # generated at run time
source "$state/env"
observe "suite=$suite client: $(docker --version)"
observe "buildx: $(docker buildx version)"
observe "daemon: $(docker version --format '{{.Server.Version}} API {{.Server.APIVersion}}; {{range .Server.Components}}{{.Name}} {{.Version}}, {{end}}')"
observe "context: $(docker context show) -> $OCIKIT_DOCKER_SOCK"

mkdir -p "$work/ctx1" "$work/ctx2" "$work/layout" "$work/ro"
printf 'hello from ocikit smoke\n' >"$work/ctx1/hello.txt"
printf 'FROM scratch\nCOPY hello.txt /\n' >"$work/ctx1/Dockerfile"
printf 'second\n' >"$work/ctx2/second.txt"
printf 'FROM base\nCOPY second.txt /\n' >"$work/ctx2/Dockerfile"

# 2. OCI layout output.
t=$(ms)
if docker buildx build --progress=plain --provenance=false \
  --output "type=oci,dest=$work/layout,tar=false,name=smoke:v1" \
  --metadata-file "$work/meta1.json" "$work/ctx1" >"$work/build1.log" 2>&1; then
  expect OK "build 1 (FROM scratch, --output type=oci,tar=false) succeeded"
else
  expect FAIL "build 1 failed: $(tail -n 5 "$work/build1.log" | tr '\n' ' ')"
  exit 1
fi
t_build1=$(($(ms) - t))
digest="$(grep -o '"digest":"sha256:[0-9a-f]\{64\}"' "$work/layout/index.json" | head -n 1 | cut -d'"' -f4)"
meta_digest="$(grep -o '"containerimage.digest": *"sha256:[0-9a-f]\{64\}"' "$work/meta1.json" | grep -o 'sha256:[0-9a-f]*' || true)"
observe "layout: $(cd "$work/layout" && find . -maxdepth 2 | sort | tr '\n' ' ')"
observe "index.json: $(cat "$work/layout/index.json")"
if [[ -n "$digest" && "$digest" == "$meta_digest" ]]; then
  expect OK "index.json manifest digest == metadata containerimage.digest ($digest)"
else
  expect FAIL "digest mismatch: index.json '$digest' vs metadata '$meta_digest'"
fi

# 3+4. Builds from the read-only bind mount, client in a private mount namespace.
# build_ro NAME REF: run `docker buildx build` FROM base=REF with the ro mount in place.
build_ro() {
  local name="$1" ref="$2" rc=0 t0
  t0=$(ms)
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare --mount --propagation private -- /bin/bash -euc '
    mount --bind "$1" "$2"; mount -o remount,bind,ro "$2"
    if touch "$2/.probe" 2>/dev/null; then echo "ro mount is writable" >&2; exit 99; fi
    shift 2; exec docker "$@"' ro "$work/layout" "$work/ro" \
    buildx build --progress=plain --provenance=false \
    --build-context "base=oci-layout://$ref" \
    --output "type=local,dest=$work/out-$name" "$work/ctx2" >"$work/build-$name.log" 2>&1 || rc=$?
  printf '%s %s\n' "$rc" "$(($(ms) - t0))"
}
check_files() { [[ -f "$work/out-$1/hello.txt" && -f "$work/out-$1/second.txt" ]]; }

declare -A times
for case in digest tagdigest tag; do
  case "$case" in
    digest) ref="$work/ro@$digest" ;;
    tagdigest) ref="$work/ro:v1@$digest" ;;
    tag) ref="$work/ro:v1" ;;
  esac
  read -r rc took < <(build_ro "$case" "$ref")
  times[$case]=$took
  errline="$(grep -m1 -E 'ERROR|error' "$work/build-$case.log" || true)"
  observe "ref oci-layout://$ref on read-only mount: exit $rc, ${took} ms${errline:+; $errline}"
  want=OK
  [[ "$case" == tag && "$suite" == trixie ]] && want=FAIL
  if [[ "$want" == OK ]]; then
    if [[ "$rc" -eq 0 ]] && check_files "$case"; then
      expect OK "$case ref builds and the result holds hello.txt + second.txt"
    else
      expect FAIL "$case ref should build: $(tail -n 5 "$work/build-$case.log" | tr '\n' ' ')"
    fi
  else
    if [[ "$rc" -ne 0 && "$rc" -ne 99 ]] && grep -q 'could not lock .*index.json.lock' "$work/build-$case.log"; then
      expect OK "$case-only ref fails with the index.json.lock error (buildx 0.13.1)"
    else
      expect FAIL "$case-only ref should fail with 'could not lock .../index.json.lock' (exit $rc)"
    fi
  fi
done

t=$(ms)
"$here/dockerd.sh" stop "$state"
started=""
t_stop=$(($(ms) - t))

printf '\nSUMMARY suite=%s rootfs(ensure)=%sms daemon-start=%sms build-oci=%sms ro-digest=%sms ro-tag+digest=%sms ro-tag=%sms daemon-stop=%sms\n' \
  "$suite" "$t_rootfs" "$t_start" "$t_build1" "${times[digest]}" "${times[tagdigest]}" "${times[tag]}" "$t_stop"
if ((failures == 0)); then
  printf 'SMOKE %s: all %d checks passed\n' "$suite" "$checks"
else
  printf 'SMOKE %s: %d check(s) FAILED\n' "$suite" "$failures"
  exit 1
fi
