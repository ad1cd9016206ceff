#!/usr/bin/env bash
# Usage: scripts/e2e/smoke-bazel.sh
#
# Proves that Bazel runs in the forky rootfs with linux-sandbox: a throwaway bzlmod workspace
# in /tmp (one genrule), the stub modules of bazel-stubs.sh, scripts/e2e/bazelrc, entered with
# in-rootfs.sh (pivot_root). Checks: `bazel --version`; the build succeeds; the execution log
# says runner "linux-sandbox"; inside the action PID 1 is linux-sandbox and writing through the
# input symlink is refused (EROFS). Prints what it observed; exit 0 only if all hold. Root only.
# Keeps the workspace when OCIKIT_KEEP=1.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

work="$(mktemp -d /tmp/ocikit-bazel-smoke.XXXXXX)"
finish() {
  local rc=$?
  if [[ "${OCIKIT_KEEP:-0}" == 1 ]]; then log "kept $work"; else rm -rf --one-file-system "$work"; fi
  exit "$rc"
}
trap finish EXIT
failures=0
check() { # check DESCRIPTION CMD...
  local what="$1"
  shift
  if "$@" 2>/dev/null; then echo "PASS  $what"; else echo "FAIL  $what"; failures=$((failures + 1)); fi
}

rootfs="$("$here/rootfs.sh" forky)"
mkdir -p "$work/ws"
"$here/bazel-stubs.sh" "$work/stubs" >/dev/null
cp "$here/bazelrc" "$work/bazelrc"
printf 'module(name = "ocikit_sandbox_probe")\n' >"$work/ws/MODULE.bazel"
printf 'hello\n' >"$work/ws/input.txt"
cat >"$work/ws/BUILD.bazel" <<'EOF'
genrule(
    name = "probe",
    srcs = ["input.txt"],
    outs = ["probe.txt"],
    cmd = """
{
  echo "pid1=$$(cat /proc/1/comm)"
  echo "uid=$$(id -u)"
  if echo x >> $(location input.txt) 2>/dev/null; then echo input-write=allowed; else echo input-write=denied; fi
} > $@
""",
)
EOF

t0=$(date +%s%3N)
rc=0
# shellcheck disable=SC2016 # expanded by the inner shell
(cd "$work/ws" && "$here/in-rootfs.sh" forky --bind "$work" -- /bin/sh -c '
  bazel --version
  bazel --output_user_root="$1/out" --bazelrc="$1/bazelrc" --bazelrc="$1/stubs/stubs.bazelrc" build //:probe \
    --execution_log_json_file="$1/exec.json"
  cp bazel-bin/probe.txt "$1/probe.txt"
  bazel --output_user_root="$1/out" --bazelrc="$1/bazelrc" --bazelrc="$1/stubs/stubs.bazelrc" shutdown
' sh "$work") >"$work/bazel.log" 2>&1 || rc=$?
took=$(($(date +%s%3N) - t0))

version="$(grep -m1 '^bazel ' "$work/bazel.log" || true)"
echo "OBSERVED $version (rootfs $rootfs), in-rootfs run exit $rc in ${took} ms"
echo "OBSERVED $(grep -E '^INFO: [0-9]+ process' "$work/bazel.log" || echo 'no process summary (cached?)')"
echo "OBSERVED probe.txt: $(tr '\n' ' ' <"$work/probe.txt" 2>/dev/null || echo missing)"
echo "OBSERVED exec log runners: $(grep -o '"runner": *"[^"]*"' "$work/exec.json" 2>/dev/null | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
check "bazel build succeeded" test "$rc" -eq 0
check "bazel --version is 7.x" grep -q '^bazel 7\.' "$work/bazel.log"
check "execution log: runner linux-sandbox" grep -q '"runner": *"linux-sandbox"' "$work/exec.json"
check "action saw PID 1 = linux-sandbox" grep -qx 'pid1=linux-sandbox' "$work/probe.txt"
check "write through the input symlink refused" grep -qx 'input-write=denied' "$work/probe.txt"
check "source input unchanged" grep -qx hello "$work/ws/input.txt"
if ((failures)); then
  tail -n 30 "$work/bazel.log" >&2
  echo "SMOKE bazel: $failures check(s) FAILED"
  exit 1
fi
echo "SMOKE bazel: all checks passed"
