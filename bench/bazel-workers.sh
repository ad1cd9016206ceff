#!/usr/bin/env bash
# Usage: bash bench/bazel-workers.sh [N]          (root; N targets, default 100)
#
# ocikit's persistent worker in real Bazel 7.7.1 (the forky rootfs, as test/e2e/bazel.sh runs
# it): a temporary workspace with N oci_layout_context targets (N copies of examples/hello, so N
# layouts and N resolve actions), built
#   worker   --spawn_strategy=worker,linux-sandbox --worker_sandboxing --worker_verbose
#   sandbox  --spawn_strategy=linux-sandbox        (one node process per action)
# three times each, alternating, each build after `bazel clean` and an analysis-only build
# (`--nobuild`), so the timed build is the N actions' execution. Reports both wall times
# (median), that the worker was reused (the workers Bazel created per build, from
# --worker_verbose, against the requests they answered), and that both strategies wrote
# byte-identical outputs. Holds /tmp/ocikit-e2e.lock (Bazel in the rootfs) while it runs.
# Last line: `bazel-workers: worker X s, sandbox Y s (N targets)`; exit 1 when a check fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-100}"
[[ "$(id -u)" -eq 0 ]] || { echo "bench/bazel-workers.sh must run as root (rootfs, pivot_root)" >&2; exit 1; }
[[ -f "$root/dist/ocikit.cjs" ]] || { echo "run npm run build first" >&2; exit 1; }

work="$(mktemp -d /tmp/ocikit-bench-bazel.XXXXXX)"
trap 'if [[ "${OCIKIT_KEEP:-0}" == 1 ]]; then echo "kept $work"; else rm -rf --one-file-system "$work"; fi' EXIT
ws="$work/ws"
mkdir -p "$ws/layouts"
cat >"$ws/MODULE.bazel" <<EOF
module(name = "ocikit_bench_workers")

bazel_dep(name = "ocikit", version = "0.1.0")
local_path_override(
    module_name = "ocikit",
    path = "$root",
)
EOF
{
  echo 'load("@ocikit//rules:defs.bzl", "oci_layout_context")'
  for i in $(seq -w 0 $((n - 1))); do
    cp -r "$root/examples/hello" "$ws/layouts/l$i"
    printf '\nfilegroup(\n    name = "l%s",\n    srcs = glob(["layouts/l%s/**"]),\n)\n' "$i" "$i"
    printf '\noci_layout_context(\n    name = "c%s",\n    layout = ":l%s",\n    platform = "linux/amd64",\n    tag = "hello",\n)\n' "$i" "$i"
  done
} >"$ws/BUILD.bazel"
printf 'common --noenable_workspace\ncommon --lockfile_mode=off\n' >"$ws/.bazelrc"
"$root/scripts/e2e/bazel-stubs.sh" "$work/stubs" >/dev/null
echo "build --symlink_prefix=/" >"$work/extra.bazelrc"

# shellcheck disable=SC2016 # expanded by the inner shell
inner='
set -u
root="$1"; work="$2"; ws="$work/ws"
B() { bazel --bazelrc="$root/scripts/e2e/bazelrc" --bazelrc="$work/stubs/stubs.bazelrc" --bazelrc="$work/extra.bazelrc" "$@"; }
cd "$ws"
worker="--spawn_strategy=worker,linux-sandbox --worker_sandboxing --experimental_worker_multiplex_sandboxing --worker_verbose"
sandbox="--spawn_strategy=linux-sandbox"
B build //... --nobuild >"$work/warmup.log" 2>&1 || { tail -n 30 "$work/warmup.log"; exit 1; }
bin="$(B info bazel-bin 2>/dev/null)"
for round in 1 2 3; do
  for mode in worker sandbox; do
    eval "flags=\$$mode"
    B clean >/dev/null 2>&1
    # shellcheck disable=SC2086
    B build //... --nobuild $flags >/dev/null 2>&1
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    B build //... $flags >"$work/$mode-$round.log" 2>&1 || { echo "build failed: $mode" >&2; tail -n 20 "$work/$mode-$round.log" >&2; exit 1; }
    end=$(date +%s%N)
    echo "$mode $round $(( (end - start) / 1000000 ))" >>"$work/times"
    rm -rf "$work/out-$mode"; mkdir -p "$work/out-$mode"; cp "$bin"/c*.json "$work/out-$mode/"
  done
done
B shutdown >/dev/null 2>&1
'
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
flock /tmp/ocikit-e2e.lock "$root/scripts/e2e/in-rootfs.sh" forky --bind "$root" --bind "$work" -- \
  bash -c "$inner" inner "$root" "$work" >"$work/in-rootfs.log" 2>&1 || {
  cat "$work/in-rootfs.log"
  echo "bazel-workers: the builds failed" >&2
  exit 1
}

failed=0
echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
w_ms="$(awk '$1 == "worker" {print $3}' "$work/times" | median)"
s_ms="$(awk '$1 == "sandbox" {print $3}' "$work/times" | median)"
echo "rounds (ms): $(tr '\n' ' ' <"$work/times")"
for round in 1 2 3; do
  log="$work/worker-$round.log"
  created="$(grep -c 'Created new .*Ocikit.*worker' "$log" || true)"
  requests="$(grep -c 'ocikit worker: pid' "$log" || true)"
  pids="$(grep -o 'ocikit worker: pid [0-9]*' "$log" | sort -u | wc -l)"
  echo "worker round $round: Bazel created $created Ocikit worker(s) (multiplex proxies share a process); $pids process(es) answered $requests requests"
  if [[ "$requests" -lt "$n" ]] || [[ "$pids" -lt 1 ]] || [[ "$pids" -ge "$requests" ]]; then
    echo "FAIL  the worker was not reused in round $round" >&2
    failed=1
  fi
done
if diff -r "$work/out-worker" "$work/out-sandbox" >/dev/null && [[ "$(find "$work/out-worker" -name '*.json' | wc -l)" -eq "$n" ]]; then
  echo "outputs: $n resolve documents, byte-identical under both strategies"
else
  echo "FAIL  outputs differ between the strategies" >&2
  failed=1
fi
echo "bazel-workers: worker $(awk "BEGIN {printf \"%.2f\", $w_ms / 1000}") s, sandbox $(awk "BEGIN {printf \"%.2f\", $s_ms / 1000}") s ($n targets)"
exit "$failed"
