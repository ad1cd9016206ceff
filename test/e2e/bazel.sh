#!/usr/bin/env bash
# Usage: bash test/e2e/bazel.sh            (root; from anywhere)
#
# ocikit's Bazel rules with real Bazel 7.7.1 (Debian bazel-bootstrap in the forky rootfs,
# entered with pivot_root so linux-sandbox works) and a real forky dockerd + buildx 0.29.1:
#   lint:bzl      buildifier format + lint of every Starlark file (scripts/lint-bzl.sh)
#   module        `bazel test //...` in the repository: analysis tests, golden diffs, the
#                 helper's argv against `ocikit buildx-args`, docs/rules.md freshness, verify tests
#   e2e           `bazel test //...` in e2e/ (local_path_override) with
#                 --spawn_strategy=worker,linux-sandbox (sandboxed persistent workers):
#                 a layout made by one action, pinned, built on with buildx, a second build chained
#                 on the first, verify tests, the input tree artifact unchanged, portable outputs
#   worker        the resolve, context and config actions ran in the reused ocikit worker
#                 (execution log, --worker_verbose); buildx_build as a linux-sandbox process;
#                 aquery: the worker requirements, gone with --@ocikit//:worker=false
#   aquery        the BuildxBuild action carries no-remote + no-remote-exec, no absolute argument
#   bazel run     `bazel run //:app2_args -- --output type=oci,dest=DIR,tar=false`, then
#                 `ocikit verify DIR`
#   stamped run   `bazel run --stamp //:app_args_stamped` (buildx_args, source_date_epoch "stamp"):
#                 the image's created time is the run's BUILD_TIMESTAMP
#   new rules     the source-directory warning; aquery: index/pack/unpack/load-archive actions
#                 are plain (remote-cacheable, no absolute argument); `bazel run //:app2_dev`
#                 (buildx_args(build = ":app2")) builds the same image as :app2; `bazel run
#                 //:app_multi_load` (oci_layout_load of an oci_layout_index), then `docker image
#                 inspect` of both tags is the index digest
#   release       `npm run release` into the work directory; a consumer workspace outside the
#                 repository takes the module from that archive (archive_override, file:// URL):
#                 build + verify test, the archive's bundle used; a checkout without dist/ fails
#                 with the `npm ci && npm run build` instruction
#   bases         `bazel build` of bases missing / corrupting a layer blob fails before buildx
#                 runs, OCIKIT_BLOB_MISSING / OCIKIT_BLOB_DIGEST_MISMATCH readable in the output;
#                 `bazel run` of buildx_args(build = the corrupt one) fails the same way (the
#                 build's verify_base = "digest" inherited)
#   unsandboxed   `bazel build //:app --spawn_strategy=local` (fresh output base) warns
#                 OCIKIT_W_UNSANDBOXED; linux-sandbox builds do not; with
#                 --@ocikit//:warn_unsandboxed=false the same local build (re-run) does not
#   remote        a second forky dockerd ("tls") on tcp://127.0.0.1:PORT with --tlsverify
#                 (certificates by scripts/e2e/tls-certs.sh, openssl in the rootfs); e2e's
#                 //remote chain built through it with the daemons' unix sockets blocked in the
#                 sandbox (a unix-socket control fails there), its tests; aquery: requires-network,
#                 no no-remote(-exec); the TLS daemon's build history grows; the files of //:app;
#                 `bazel run //remote:app_args` (buildx_args with docker_host + TLS files) builds
#                 //remote:app's image on the TLS daemon
#   hermetic      `bazel build //:from_typo` (FROM base, context basee) fails with
#                 OCIKIT_FROM_UNRESOLVED
#   reproducible  in a copy of e2e/: a comment added to Dockerfile.app leaves :app and :app2
#                 byte-identical and re-runs no action of :app_ctx or :app2 (execution log);
#                 two clean builds with BuildKit's cache pruned between give the same bytes
# Every Bazel test target counts once, every other check once. Last line:
#   bazel: N passed, N failed
# Builds dist/ocikit.cjs first when it is missing or older than src/ (OCIKIT_SKIP_BUILD=1: only
# when missing). Starts a forky dockerd
# (scripts/e2e/dockerd.sh) and stops it on exit; when a forky dockerd is already running (one
# per suite), it is used and left running. OCIKIT_KEEP=1 keeps the work directory.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
e2e="$root/scripts/e2e"
cd "$root" || exit 1

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS  $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }
# The summary is printed by the EXIT trap, after everything else: it must be the last line.
finish() { exit; }

if [[ "$(id -u)" -ne 0 ]]; then
  fail "test/e2e/bazel.sh must run as root (debootstrapped rootfs, pivot_root, dockerd)"
  echo "bazel: $passed passed, $failed failed"
  exit 1
fi

work="$(mktemp -d /tmp/ocikit-bazel.XXXXXX)"
state="$work/dockerd"
started=""
trixie_state="$work/dockerd-trixie"
trixie_started=""
tls_state="$work/dockerd-tls"
tls_started=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  # Stop only a daemon this script started (its own fresh state directory).
  if [[ -n "$started" ]]; then "$e2e/dockerd.sh" stop "$state" >/dev/null 2>&1 || true; fi
  if [[ -n "$trixie_started" ]]; then "$e2e/dockerd.sh" stop "$trixie_state" >/dev/null 2>&1 || true; fi
  if [[ -n "$tls_started" ]]; then "$e2e/dockerd.sh" stop "$tls_state" >/dev/null 2>&1 || true; fi
  if [[ "${OCIKIT_KEEP:-0}" == 1 ]]; then echo "kept $work"; else rm -rf --one-file-system "$work"; fi
  echo "bazel: $passed passed, $failed failed"
  [[ "$failed" -eq 0 ]] || exit 1
  exit 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the CLI bundle the rules run ---------------------------------------------------------
if [[ ! -f dist/ocikit.cjs ]] || { [[ "${OCIKIT_SKIP_BUILD:-0}" != 1 ]] && [[ -n "$(find src -newer dist/ocikit.cjs -print -quit)" ]]; }; then
  echo "== npm run build (dist/ocikit.cjs missing or older than src/)"
  if npm run build >"$work/npm-build.log" 2>&1; then pass "npm run build"; else
    tail -n 20 "$work/npm-build.log"
    fail "npm run build"
    finish
  fi
fi

# --- lint --------------------------------------------------------------------------------
echo "== lint:bzl"
if bash scripts/lint-bzl.sh >"$work/lint.log" 2>&1; then pass "lint:bzl ($(tail -n 1 "$work/lint.log"))"; else
  cat "$work/lint.log"
  fail "lint:bzl"
fi

# --- rootfs, stubs, daemon -------------------------------------------------------------------
if ! rootfs="$("$e2e/rootfs.sh" forky 2>"$work/rootfs.log")"; then
  tail -n 20 "$work/rootfs.log"
  fail "forky rootfs (Bazel 7.7.1, docker, buildx)"
  finish
fi
"$e2e/bazel-stubs.sh" "$work/stubs" >/dev/null
{
  echo "# test/e2e/bazel.sh: no convenience symlinks in the source tree"
  echo "build --symlink_prefix=/"
} >"$work/extra.bazelrc"

daemon_pid="$(cat "$rootfs/run/docker.pid" 2>/dev/null || true)"
if [[ -n "$daemon_pid" ]] && kill -0 "$daemon_pid" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$daemon_pid/stat" 2>/dev/null)" != Z ]]; then
  echo "== using the running forky dockerd (pid $daemon_pid, started by $(cat "$rootfs/run/ocikit-state-dir" 2>/dev/null || echo '?'))"
elif "$e2e/dockerd.sh" start forky "$state" >"$work/dockerd.log" 2>&1; then
  started=1
  echo "== started a forky dockerd ($state)"
else
  tail -n 20 "$work/dockerd.log"
  fail "forky dockerd start"
  finish
fi

# An affected daemon for the split-platforms build (Debian trixie's dockerd 26.1.5): its socket
# is bound into the forky rootfs at the same path (e2e/BUILD.bazel: multi_app_affected).
trixie_run=""
if trixie_rootfs="$("$e2e/rootfs.sh" trixie 2>>"$work/rootfs.log")"; then
  tpid="$(cat "$trixie_rootfs/run/docker.pid" 2>/dev/null || true)"
  if [[ -n "$tpid" ]] && kill -0 "$tpid" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$tpid/stat" 2>/dev/null)" != Z ]]; then
    trixie_run="$trixie_rootfs/run"
  elif "$e2e/dockerd.sh" start trixie "$trixie_state" >"$work/dockerd-trixie.log" 2>&1; then
    trixie_started=1
    trixie_run="$trixie_rootfs/run"
  else
    tail -n 20 "$work/dockerd-trixie.log"
    fail "trixie dockerd start (the affected daemon of multi_app_affected)"
  fi
  if [[ -n "$trixie_run" && "$trixie_run" != /var/cache/ocikit/rootfs-trixie/run ]]; then
    fail "the trixie rootfs is not at /var/cache/ocikit/rootfs-trixie (e2e/BUILD.bazel names that socket)"
    trixie_run=""
  fi
else
  fail "trixie rootfs (the affected daemon of multi_app_affected)"
fi

# A remote builder: a second forky dockerd listening on tcp://127.0.0.1:PORT with --tlsverify
# (and its own unix socket /run/docker-tls.sock), certificates made by openssl in the rootfs.
# e2e/remote.bzl reads the client side from OCIKIT_E2E_TCP_BUILDER (--repo_env).
tcp_dir=""
tls_docker=()
if "$e2e/in-rootfs.sh" forky --bind "$work" --ro-bind "$e2e" -- bash "$e2e/tls-certs.sh" "$work/tls" \
  >/dev/null 2>"$work/tls-certs.log"; then
  port="$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')"
  d="$work/tls/daemon"
  if "$e2e/dockerd.sh" start forky "$tls_state" --name tls --bind "$d" -- -H "tcp://127.0.0.1:$port" \
    --tlsverify --tlscacert "$d/ca.pem" --tlscert "$d/server-cert.pem" --tlskey "$d/server-key.pem" \
    >"$work/dockerd-tls.log" 2>&1; then
    tls_started=1
    printf 'tcp://127.0.0.1:%s\n' "$port" >"$work/tls/client/host"
    tcp_dir="$work/tls/client"
    echo "common --repo_env=OCIKIT_E2E_TCP_BUILDER=$tcp_dir" >>"$work/extra.bazelrc"
    # The TLS daemon over TCP, as a person would reach it (also checks the certificates).
    tls_docker=(env DOCKER_CONFIG="$tls_state/docker-config" DOCKER_HOST="tcp://127.0.0.1:$port"
      DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$tcp_dir" "$tls_state/bin/docker")
    if "${tls_docker[@]}" buildx history ls >"$work/tls-history-before.txt" 2>"$work/tls-history.log"; then
      history_before="$(tail -n +2 "$work/tls-history-before.txt" | wc -l)"
      echo "== started a forky dockerd on tcp://127.0.0.1:$port with --tlsverify ($history_before builds in its history)"
    else
      cat "$work/tls-history.log"
      fail "the TLS daemon does not answer over tcp://127.0.0.1:$port"
      tcp_dir=""
    fi
  else
    tail -n 20 "$work/dockerd-tls.log"
    fail "forky dockerd on tcp://127.0.0.1 with --tlsverify (start)"
  fi
else
  cat "$work/tls-certs.log"
  fail "TLS material (scripts/e2e/tls-certs.sh)"
fi

# --- Bazel, inside the rootfs (one call: each call starts the servers anew) -------------------
echo "== bazel (forky rootfs: $(grep -m1 '^bazel-bootstrap:' "$rootfs/.ocikit-rootfs-stamp" 2>/dev/null || echo '?'))"
# shellcheck disable=SC2016 # expanded by the inner shell
inner='
set -u
root="$1"; work="$2"
B() { bazel --bazelrc="$root/scripts/e2e/bazelrc" --bazelrc="$work/stubs/stubs.bazelrc" --bazelrc="$work/extra.bazelrc" "$@"; }
cd "$root"
B test //... --keep_going >"$work/module.log" 2>&1; echo "$?" >"$work/module.rc"
B build --nobuild //rules/tests:source_dir_layout >"$work/srcdir.log" 2>&1
B shutdown >/dev/null 2>&1
cd "$root/e2e"
# The output base (under HOME of the root filesystem) outlives the run: without a clean, a run
# of an unchanged bundle finds every action in the action cache and the execution log shows no
# spawn to check (the worker check below needs them executed).
B clean >/dev/null 2>&1
B test //... --keep_going --spawn_strategy=worker,linux-sandbox --worker_verbose --execution_log_json_file="$work/e2e-exec.json" >"$work/e2e.log" 2>&1; echo "$?" >"$work/e2e.rc"
B aquery "mnemonic(BuildxBuild, //:app)" --output=jsonproto >"$work/aquery.json" 2>"$work/aquery.log"; echo "$?" >"$work/aquery.rc"
B aquery "mnemonic(OciLayoutResolve, //:base)" --output=jsonproto >"$work/aquery-worker.json" 2>"$work/aquery-worker.log"; echo "$?" >"$work/aquery-worker.rc"
B aquery "mnemonic(OciLayoutResolve, //:base)" --@ocikit//:worker=false --output=jsonproto >"$work/aquery-noworker.json" 2>>"$work/aquery-worker.log"; echo "$?" >>"$work/aquery-worker.rc"
B run //:app2_args -- --output "type=oci,dest=$work/run-out,tar=false" >"$work/run.log" 2>&1; echo "$?" >"$work/run.rc"
B aquery "mnemonic(\"OciLayout(Index|Pack|Unpack|LoadArchive)\", //...)" --output=jsonproto >"$work/aquery-new.json" 2>"$work/aquery-new.log"; echo "$?" >"$work/aquery-new.rc"
B run //:app2_dev -- --output "type=oci,dest=$work/run-dev-out,tar=false" >"$work/run-dev.log" 2>&1; echo "$?" >"$work/run-dev.rc"
docker image rm -f e2e.example/multi:1.0 e2e.example/multi:latest >/dev/null 2>&1
B run //:app_multi_load >"$work/load.log" 2>&1; echo "$?" >"$work/load.rc"
docker image inspect --format "{{.Id}}" e2e.example/multi:1.0 e2e.example/multi:latest >"$work/load-ids.txt" 2>>"$work/load.log"
execroot="$(B info execution_root 2>/dev/null)"
for t in app2_digest_report app_multi_report; do
  f="$(B cquery --output=files "//:$t" 2>/dev/null)" && cp "$execroot/$f" "$work/$t.json"
done
if [ -n "$3" ]; then
  B test //:multi_app_affected_verify_amd64 //:multi_app_affected_verify_arm64 //:multi_app_affected_split_test \
    --keep_going --spawn_strategy=linux-sandbox >"$work/affected.log" 2>&1; echo "$?" >"$work/affected.rc"
fi
# Bases checked before buildx runs (manual targets that must fail), readable in Bazel output.
for t in broken_missing_app broken_corrupt_app; do
  B build "//:$t" --spawn_strategy=linux-sandbox >"$work/$t.log" 2>&1; echo "$?" >"$work/$t.rc"
done
# buildx_args(build = :broken_corrupt_app): verify_base = "digest" of the build applies to bazel run.
B run //:broken_corrupt_dev >"$work/broken_corrupt_dev.log" 2>&1; echo "$?" >"$work/broken_corrupt_dev.rc"
# buildx_args(source_date_epoch = "stamp"): bazel run --stamp reads BUILD_TIMESTAMP from the status
# file in its runfiles; the image records that time (the status file of that run kept).
B run --stamp //:app_args_stamped -- --output "type=oci,dest=$work/run-stamped-out,tar=false" >"$work/run-stamped.log" 2>&1
echo "$?" >"$work/run-stamped.rc"
cp "$(B info output_path 2>/dev/null)/volatile-status.txt" "$work/stamped-status.txt" 2>>"$work/run-stamped.log"
# Hermetic by default: FROM base with the context named basee (a manual target that must fail).
B build //:from_typo --spawn_strategy=linux-sandbox >"$work/typo.log" 2>&1; echo "$?" >"$work/typo.rc"
if [ -n "$4" ]; then
  # The remote chain with both daemons unix sockets made inaccessible in the sandbox: only TCP
  # reaches a builder. The control (the TLS daemon by its unix socket) must fail.
  blocked="--sandbox_block_path=/run/docker.sock --sandbox_block_path=/run/docker-tls.sock"
  B build //remote:app2 //remote:app_report //remote:socket_control --keep_going --spawn_strategy=linux-sandbox \
    $blocked >"$work/remote-build.log" 2>&1; echo "$?" >"$work/remote-build.rc"
  B test //remote:app_verify //remote:app2_verify //remote:app2_content_test --keep_going --spawn_strategy=linux-sandbox \
    $blocked >"$work/remote.log" 2>&1; echo "$?" >"$work/remote.rc"
  # buildx_args with docker_host + TLS: bazel run sends the build to the TLS daemon.
  B run //remote:app_args -- --output "type=oci,dest=$work/run-remote-out,tar=false" >"$work/run-remote.log" 2>&1
  echo "$?" >"$work/run-remote.rc"
  B aquery "mnemonic(BuildxBuild, //remote:app)" --output=jsonproto >"$work/remote-aquery.json" 2>"$work/remote-aquery.log"
  echo "$?" >"$work/remote-aquery.rc"
  bin="$(B info bazel-bin 2>/dev/null)"
  cp "$bin/remote/app.build.json" "$work/remote-app.build.json" 2>/dev/null
  cp "$bin/app.build.json" "$work/local-app.build.json" 2>/dev/null
  cp -rL "$bin/remote/app" "$work/remote-app" 2>/dev/null
  cp -rL "$bin/app" "$work/local-app" 2>/dev/null
fi
B shutdown >/dev/null 2>&1
# Unsandboxed: //:app in a fresh output base (so that the action runs) with --spawn_strategy=local.
B --output_base="$work/ob-local" build //:app --spawn_strategy=local >"$work/unsandboxed.log" 2>&1; echo "$?" >"$work/unsandboxed.rc"
# The same, with the warning switched off: the action re-runs (its arguments changed), silent.
B --output_base="$work/ob-local" build //:app --spawn_strategy=local --@ocikit//:warn_unsandboxed=false \
  --execution_log_json_file="$work/unsandboxed-off.exec.json" >"$work/unsandboxed-off.log" 2>&1; echo "$?" >"$work/unsandboxed-off.rc"
B --output_base="$work/ob-local" shutdown >/dev/null 2>&1
# Reproducibility, in a copy of the workspace (the source tree is never edited), no disk cache.
rm -rf "$work/repro" && cp -r "$root/e2e" "$work/repro" && cd "$work/repro" &&
  sed -i "s|path = \"\\.\\.\"|path = \"$root\"|" MODULE.bazel
R() { B "$@" --disk_cache= --spawn_strategy=linux-sandbox; }
listing() { # listing N: every file of :app and :app2 with its sha256
  local x; x="$(B info execution_root 2>/dev/null)"
  for t in app app2; do
    (cd "$x/$(B cquery --output=files "//:$t" 2>/dev/null)" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sed "s|^|$t |")
  done >"$work/repro-$1.list"
}
{
  R build //:app2 --execution_log_json_file="$work/repro-1.exec.json" && listing 1 &&
    echo "# a comment: the image must not change" >>Dockerfile.app &&
    R build //:app2 --execution_log_json_file="$work/repro-2.exec.json" && listing 2 &&
    docker buildx prune -af && B clean && R build //:app2 && listing 3 &&
    docker buildx prune -af && B clean && R build //:app2 && listing 4
} >"$work/repro.log" 2>&1; echo "$?" >"$work/repro.rc"
B shutdown >/dev/null 2>&1
'
trixie_bind=()
[[ -n "$trixie_run" ]] && trixie_bind=(--bind "$trixie_run")
"$e2e/in-rootfs.sh" forky --bind "$root" --bind "$work" "${trixie_bind[@]}" -- bash -c "$inner" inner "$root" "$work" "$trixie_run" "$tcp_dir" \
  >"$work/in-rootfs.log" 2>&1 || true

# count_tests NAME LOG RC: one pass/fail per test target in the summary of `bazel test`.
count_tests() {
  local name="$1" log="$2" rc n=0 line target status
  rc="$(cat "$3" 2>/dev/null || echo '?')"
  while read -r line; do
    target="${line%% *}"
    if [[ "$line" =~ (PASSED|FLAKY)\ in ]]; then
      pass "$name $target"
    else
      status="$(grep -oE 'FAILED TO BUILD|FAILED|NO STATUS|TIMEOUT|INCOMPLETE|SKIPPED' <<<"$line" | head -n 1)"
      fail "$name $target ($status)"
    fi
    n=$((n + 1))
  done < <(grep -E '^//[^ ]+ +.*(PASSED|FAILED|NO STATUS|TIMEOUT|FLAKY|INCOMPLETE|SKIPPED)' "$log" 2>/dev/null)
  if [[ "$rc" != 0 ]]; then
    grep -E '^(ERROR|FAIL):' "$log" 2>/dev/null | head -n 20
    if ((n == 0)) || [[ "$rc" != 3 ]]; then fail "$name: bazel test exited $rc (see above)"; fi
  fi
  if ((n == 0)) && [[ "$rc" == 0 ]]; then fail "$name: no test results in the log"; fi
}
count_tests module "$work/module.log" "$work/module.rc"
count_tests e2e "$work/e2e.log" "$work/e2e.rc"
if [[ -n "$trixie_run" ]]; then
  count_tests affected "$work/affected.log" "$work/affected.rc"
  grep -m1 -o 'split: .*' "$work/affected.log" 2>/dev/null || true
fi

# Execution requirements are not visible to Starlark (Bazel 7): read them from aquery.
# buildx_action_ok NAME JS: the one BuildxBuild action of $work/NAME.json (aquery jsonproto,
# exit status in NAME.rc) has no absolute argument and passes JS, which sees `info` (execution
# requirements), `env` and `args` and throws on a problem; messages in NAME-check.log.
buildx_action_ok() {
  [[ "$(cat "$work/$1.rc" 2>/dev/null)" == 0 ]] || return 1
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e '
    const q = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const a = (q.actions || []).filter((x) => x.mnemonic === "BuildxBuild");
    if (a.length !== 1) throw new Error(`${a.length} BuildxBuild actions`);
    const info = Object.fromEntries((a[0].executionInfo || []).map((e) => [e.key, e.value]));
    const env = Object.fromEntries((a[0].environmentVariables || []).map((e) => [e.key, e.value]));
    const args = a[0].arguments;
    const abs = args.filter((x) => x.startsWith("/"));
    if (abs.length > 0) throw new Error(`absolute arguments: ${abs}`);
    new Function("info", "env", "args", process.argv[2])(info, env, args);
  ' "$work/$1.json" "$2" 2>"$work/$1-check.log"
}
# shellcheck disable=SC2016 # JavaScript, not shell
if buildx_action_ok aquery '
  for (const k of ["no-remote", "no-remote-exec"]) if (info[k] !== "1") throw new Error(`no ${k}: ${JSON.stringify(info)}`);
  for (const k of ["no-sandbox", "local"]) if (k in info) throw new Error(`${k} set`);
'; then
  pass "aquery: BuildxBuild has no-remote + no-remote-exec, no absolute argument"
else
  cat "$work/aquery.log" "$work/aquery-check.log" 2>/dev/null | tail -n 10
  fail "aquery: BuildxBuild execution requirements"
fi

# The persistent worker: every action that may use it ran in it (the execution log names the
# runner of each spawn), Bazel reused the worker processes (--worker_verbose), buildx_build ran
# sandboxed as a process.
# shellcheck disable=SC2016 # JavaScript, not shell
if node -e '
  const text = require("fs").readFileSync(process.argv[1], "utf8");
  // Concatenated JSON objects (Bazel 7 writes them back to back): cut where the braces balance.
  const spawns = [];
  for (let i = 0, depth = 0, start = 0, str = false, esc = false; i < text.length; i++) {
    const c = text[i];
    if (str) { if (esc) esc = false; else if (c === "\\") esc = true; else if (c === "\"") str = false; continue; }
    if (c === "\"") str = true;
    else if (c === "{") { if (depth++ === 0) start = i; }
    else if (c === "}" && --depth === 0) spawns.push(JSON.parse(text.slice(start, i + 1)));
  }
  const by = {};
  for (const s of spawns) (by[s.mnemonic] ??= []).push(s.runner);
  for (const m of ["OciLayoutResolve", "BuildxContext", "BuildxConfig"])
    if (!(m in by)) throw new Error(`no ${m} spawn`);
  for (const m of ["OciLayoutResolve", "BuildxContext", "BuildxConfig", "OciLayoutIndex", "OciLayoutPack", "OciLayoutUnpack", "OciLayoutLoadArchive"])
    if ((by[m] ?? []).some((r) => r !== "worker")) throw new Error(`${m} ran as ${by[m]}`);
  if ((by.BuildxBuild ?? []).some((r) => r !== "linux-sandbox")) throw new Error(`BuildxBuild ran as ${by.BuildxBuild}`);
  const log = require("fs").readFileSync(process.argv[2], "utf8");
  const created = (log.match(/Created new .*Ocikit.*worker/g) ?? []).length;
  const answered = (log.match(/ocikit worker: pid \d+/g) ?? []).length;
  const pids = new Set(log.match(/ocikit worker: pid \d+/g)).size;
  const inWorker = Object.values(by).flat().filter((r) => r === "worker").length;
  if (created < 1 || pids < 1 || answered < inWorker || pids >= answered) throw new Error(`created ${created}, ${pids} processes answered ${answered} requests of ${inWorker}`);
  const kinds = Object.entries(by).filter(([, r]) => r.includes("worker")).map(([m, r]) => `${m} ${r.length}`).join(", ");
  console.log(`${inWorker} spawns in the worker (${kinds}), answered by ${pids} process(es); BuildxBuild: ${(by.BuildxBuild ?? []).length} linux-sandbox`);
' "$work/e2e-exec.json" "$work/e2e.log" >"$work/worker-check.log" 2>&1; then
  pass "persistent worker: $(cat "$work/worker-check.log")"
else
  cat "$work/worker-check.log"
  fail "persistent worker: resolve, index, pack, unpack, context and config actions in the reused worker"
fi

# The worker's execution requirements, and --@ocikit//:worker=false taking them away.
# shellcheck disable=SC2016 # JavaScript, not shell
if [[ "$(tr -d '\n' <"$work/aquery-worker.rc" 2>/dev/null)" == 00 ]] && node -e '
  const info = (f) => {
    const a = (JSON.parse(require("fs").readFileSync(f, "utf8")).actions || []).filter((x) => x.mnemonic === "OciLayoutResolve");
    if (a.length !== 1) throw new Error(`${f}: ${a.length} OciLayoutResolve actions`);
    return Object.fromEntries((a[0].executionInfo || []).map((e) => [e.key, e.value]));
  };
  const on = info(process.argv[1]);
  const want = { "supports-workers": "1", "supports-multiplex-workers": "1", "requires-worker-protocol": "json", "worker-key-mnemonic": "Ocikit" };
  for (const [k, v] of Object.entries(want)) if (on[k] !== v) throw new Error(`no ${k}=${v}: ${JSON.stringify(on)}`);
  const off = info(process.argv[2]);
  if (Object.keys(off).some((k) => k.includes("worker"))) throw new Error(`--@ocikit//:worker=false left ${JSON.stringify(off)}`);
' "$work/aquery-worker.json" "$work/aquery-noworker.json" 2>"$work/aquery-worker-check.log"; then
  pass "aquery: OciLayoutResolve carries the worker requirements; --@ocikit//:worker=false removes them"
else
  cat "$work/aquery-worker.log" "$work/aquery-worker-check.log" 2>/dev/null | tail -n 10
  fail "aquery: the worker's execution requirements"
fi

# The remote chain (tcp:// + TLS): built with the local sockets blocked, tested, tagged for
# remote execution, found in the TLS daemon's history, the same image as the local build.
if [[ -n "$tcp_dir" ]]; then
  count_tests remote "$work/remote.log" "$work/remote.rc"
  # Under the block, the only failure is the unix-socket control, unreachable.
  other_errors="$(grep -E '^ERROR: ' "$work/remote-build.log" | grep -v -e '//remote:socket_control' -e 'Build did NOT complete successfully')"
  if [[ "$(cat "$work/remote-build.rc" 2>/dev/null)" == 1 && -z "$other_errors" ]] &&
    grep -qE '^ERROR: .*//remote:socket_control.* failed' "$work/remote-build.log" &&
    grep -q 'OCIKIT_BUILDER_UNREACHABLE' "$work/remote-build.log"; then
    pass "remote: //remote:app2 built with the unix sockets blocked; the unix-socket control failed (OCIKIT_BUILDER_UNREACHABLE)"
  else
    grep -E '^(ERROR|INFO: Build)' "$work/remote-build.log" | head -n 10
    fail "remote: build with the unix sockets blocked (rc $(cat "$work/remote-build.rc" 2>/dev/null))"
  fi
  # shellcheck disable=SC2016 # JavaScript, not shell
  if buildx_action_ok remote-aquery '
    if (!("requires-network" in info)) throw new Error(`no requires-network: ${JSON.stringify(info)}`);
    for (const k of ["no-remote", "no-remote-exec", "no-remote-cache", "local", "no-sandbox"])
      if (k in info) throw new Error(`${k} set: ${JSON.stringify(info)}`);
    if (!/^tcp:\/\/127\.0\.0\.1:\d+$/.test(env.DOCKER_HOST)) throw new Error(`DOCKER_HOST ${env.DOCKER_HOST}`);
    for (const f of ["--tlscacert", "--tlscert", "--tlskey"]) {
      const v = args[args.indexOf(f) + 1];
      if (args.indexOf(f) < 0 || !v.startsWith("external/")) throw new Error(`${f} ${v}`);
    }
  '; then
    pass "aquery: //remote:app BuildxBuild has requires-network, no no-remote/no-remote-exec, DOCKER_HOST tcp://, TLS files as inputs"
  else
    cat "$work/remote-aquery.log" "$work/remote-aquery-check.log" 2>/dev/null | tail -n 10
    fail "aquery: //remote:app BuildxBuild execution requirements"
  fi
  # New build IDs, not the count: BuildKit keeps a bounded history (seen: 49 records before a
  # run, 50 after), so old records go as new ones come.
  "${tls_docker[@]}" buildx history ls >"$work/tls-history-after.txt" 2>>"$work/tls-history.log"
  build_ids() { tail -n +2 "$1" | awk '{print $1}' | LC_ALL=C sort; }
  history_new="$(LC_ALL=C comm -13 <(build_ids "$work/tls-history-before.txt") <(build_ids "$work/tls-history-after.txt") | wc -l)"
  history_after="$(tail -n +2 "$work/tls-history-after.txt" | wc -l)"
  if ((history_new >= 3)); then
    pass "remote: the TLS daemon's build history has $history_new new builds (//remote:app, //remote:app2, bazel run //remote:app_args)"
  else
    fail "remote: the TLS daemon's build history has $history_new new builds ($history_after records, $history_before before the run)"
  fi
  # The same image as the local build: the same files with the same contents in its layers.
  # (Not yet the same digest: COPY keeps the build context's file times, which differ per run
  # until the layers' timestamps are rewritten.)
  layer_files() { # LAYOUT -> "sha256  ./path" of every file in the layers of its one manifest
    local b d
    # shellcheck disable=SC2016 # JavaScript, not shell
    node -e '
      const fs = require("fs"), path = require("path"), dir = process.argv[1];
      const blob = (d) => path.join(dir, "blobs", ...d.split(":"));
      const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8"));
      const m = JSON.parse(fs.readFileSync(blob(index.manifests[0].digest), "utf8"));
      for (const l of m.layers) console.log(blob(l.digest));
    ' "$1" | while read -r b; do
      d="$(mktemp -d)"
      tar -xf "$b" -C "$d" && (cd "$d" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
      rm -rf "$d"
    done
  }
  remote_files="$(layer_files "$work/remote-app" 2>/dev/null)"
  local_files="$(layer_files "$work/local-app" 2>/dev/null)"
  remote_digest="$(node -p 'require(process.argv[1]).digest' "$work/remote-app.build.json" 2>/dev/null)"
  local_digest="$(node -p 'require(process.argv[1]).digest' "$work/local-app.build.json" 2>/dev/null)"
  if [[ -n "$remote_files" && "$remote_files" == "$local_files" ]]; then
    pass "remote: //remote:app holds the files of //:app ($(wc -l <<<"$remote_files") files; digests $([[ "$remote_digest" == "$local_digest" ]] && echo equal || echo "differ: file times"))"
  else
    printf 'remote:\n%s\nlocal:\n%s\n' "$remote_files" "$local_files"
    fail "remote: //remote:app does not hold the files of //:app"
  fi
  # Reproducible by default (SOURCE_DATE_EPOCH 0, rewrite-timestamp): the other daemon builds the
  # same bytes.
  if [[ -n "$remote_digest" && "$remote_digest" == "$local_digest" ]]; then
    pass "remote: //remote:app has the digest of //:app ($remote_digest): layer timestamps rewritten"
  else
    fail "remote: //remote:app is ${remote_digest:-?}, //:app ${local_digest:-?}: not the same bytes"
  fi
  # bazel run of buildx_args(build = :app, docker_host, tls_*): the image of //remote:app.
  run_remote_digest="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1] + "/index.json", "utf8")).manifests[0].digest' "$work/run-remote-out" 2>/dev/null)"
  if [[ "$(cat "$work/run-remote.rc" 2>/dev/null)" == 0 && -n "$run_remote_digest" && "$run_remote_digest" == "$remote_digest" ]] &&
    node dist/ocikit.cjs verify "$work/run-remote-out" >"$work/run-remote-verify.log" 2>&1; then
    pass "remote: bazel run //remote:app_args (docker_host + TLS) built $run_remote_digest, //remote:app's image"
  else
    tail -n 20 "$work/run-remote.log" "$work/run-remote-verify.log" 2>/dev/null
    fail "remote: bazel run //remote:app_args (rc $(cat "$work/run-remote.rc" 2>/dev/null), ${run_remote_digest:-no image}, //remote:app is ${remote_digest:-?})"
  fi
  if grep -rqF -- "$(sed -n 2p "$tcp_dir/key.pem")" "$work"/*.log "$work"/*.json 2>/dev/null; then
    fail "remote: the client key appears in a log or report"
  else
    pass "remote: the client key appears in no log or report"
  fi
fi

# `bazel run` for a person: a real build, written where the flags after -- say.
if [[ "$(cat "$work/run.rc" 2>/dev/null)" == 0 ]] && node dist/ocikit.cjs verify "$work/run-out" >"$work/run-verify.log" 2>&1; then
  pass "bazel run //:app2_args -- --output type=oci,...: $(tail -n 1 "$work/run-verify.log")"
else
  tail -n 20 "$work/run.log" "$work/run-verify.log" 2>/dev/null
  fail "bazel run //:app2_args"
fi

# bazel run --stamp of buildx_args(source_date_epoch = "stamp"): the run's BUILD_TIMESTAMP (its
# status file) is the build's SOURCE_DATE_EPOCH (docker's argv) and the image's created time.
stamp_ts="$(sed -n 's/^BUILD_TIMESTAMP \([0-9]*\)$/\1/p' "$work/stamped-status.txt" 2>/dev/null)"
# shellcheck disable=SC2016 # JavaScript, not shell
if [[ "$(cat "$work/run-stamped.rc" 2>/dev/null)" == 0 && -n "$stamp_ts" ]] &&
  grep -qE "^ocikit: running .* --build-arg SOURCE_DATE_EPOCH=$stamp_ts " "$work/run-stamped.log" &&
  stamped="$(node -e '
    const fs = require("fs"), path = require("path");
    const index = JSON.parse(fs.readFileSync(path.join(process.argv[1], "index.json"), "utf8"));
    const created = index.manifests[0].annotations["org.opencontainers.image.created"];
    const want = new Date(Number(process.argv[2]) * 1000).toISOString().replace(".000Z", "Z");
    if (created !== want) throw new Error(`created ${created}, BUILD_TIMESTAMP ${want}`);
    console.log(created);
  ' "$work/run-stamped-out" "$stamp_ts" 2>&1)"; then
  pass "bazel run --stamp //:app_args_stamped: SOURCE_DATE_EPOCH=$stamp_ts (BUILD_TIMESTAMP), image created $stamped"
else
  tail -n 20 "$work/run-stamped.log" 2>/dev/null
  echo "${stamped:-}" | tail -n 3
  fail "bazel run --stamp //:app_args_stamped (source_date_epoch \"stamp\", BUILD_TIMESTAMP ${stamp_ts:-?})"
fi

# A source directory as a layout draws a warning at analysis.
if grep -q "is a source directory; Bazel does not track changes inside it" "$work/srcdir.log" 2>/dev/null; then
  pass "source directory as layout: analysis warns"
else
  tail -n 10 "$work/srcdir.log" 2>/dev/null
  fail "source directory as layout: no warning"
fi

# The new rules' actions need no daemon: nothing keeps them local, no absolute argument.
# shellcheck disable=SC2016 # JavaScript, not shell
if [[ "$(cat "$work/aquery-new.rc" 2>/dev/null)" == 0 ]] && node -e '
  const q = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const seen = new Set();
  for (const a of q.actions || []) {
    seen.add(a.mnemonic);
    const info = Object.fromEntries((a.executionInfo || []).map((e) => [e.key, e.value]));
    for (const k of ["no-remote", "no-remote-exec", "no-cache", "local", "no-sandbox"])
      if (k in info) throw new Error(`${a.mnemonic}: ${k} set`);
    const abs = a.arguments.filter((x) => x.startsWith("/"));
    if (abs.length > 0) throw new Error(`${a.mnemonic}: absolute arguments: ${abs}`);
  }
  for (const m of ["OciLayoutIndex", "OciLayoutPack", "OciLayoutUnpack", "OciLayoutLoadArchive"])
    if (!seen.has(m)) throw new Error(`no ${m} action`);
  console.log(`${(q.actions || []).length} actions`);
' "$work/aquery-new.json" >"$work/aquery-new-check.log" 2>&1; then
  pass "aquery: index/pack/unpack/load-archive actions plain ($(cat "$work/aquery-new-check.log"))"
else
  cat "$work/aquery-new.log" "$work/aquery-new-check.log" 2>/dev/null | tail -n 10
  fail "aquery: index/pack/unpack/load-archive actions"
fi

# buildx_args(build = ":app2"), run by a person: the same image as the buildx_build.
# shellcheck disable=SC2016 # JavaScript, not shell
if [[ "$(cat "$work/run-dev.rc" 2>/dev/null)" == 0 ]] &&
  got="$(node dist/ocikit.cjs resolve "$work/run-dev-out" 2>"$work/run-dev-resolve.log")" &&
  want="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).descriptor.digest)' "$work/app2_digest_report.json" 2>>"$work/run-dev-resolve.log")" &&
  [[ -n "$got" && "$got" == "$want" ]]; then
  pass "bazel run //:app2_dev (buildx_args build = :app2): the image of :app2, $got"
else
  tail -n 20 "$work/run-dev.log" "$work/run-dev-resolve.log" 2>/dev/null
  fail "bazel run //:app2_dev: got ${got:-nothing}, want the digest of :app2 ${want:-?}"
fi

# oci_layout_load: both tags are the merged index in the daemon (containerd image store: the
# image ID is the index digest).
# shellcheck disable=SC2016 # JavaScript, not shell
if [[ "$(cat "$work/load.rc" 2>/dev/null)" == 0 ]] && node -e '
  const fs = require("fs");
  const want = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).descriptor.digest;
  const ids = fs.readFileSync(process.argv[2], "utf8").trim().split("\n");
  if (ids.length !== 2 || ids.some((id) => id !== want))
    throw new Error(`docker image inspect: ${ids.join(", ")}; want ${want} twice`);
  console.log(want);
' "$work/app_multi_report.json" "$work/load-ids.txt" >"$work/load-check.log" 2>&1; then
  pass "bazel run //:app_multi_load: e2e.example/multi:1.0 and :latest are $(cat "$work/load-check.log")"
else
  tail -n 20 "$work/load.log" "$work/load-check.log" 2>/dev/null
  fail "bazel run //:app_multi_load, then docker image inspect"
fi

# --- the release archive, consumed through archive_override ------------------------------------
# `npm run release` writes the archive into the work directory; a consumer workspace outside the
# repository (test/e2e/release-consumer + examples/hello, no node_modules, no npm) takes the
# module from it with the archive_override snippet the release printed (file:// URL, integrity):
# build, verify test, and @ocikit//:cli must be the archive's own dist/ocikit.cjs. Then the same
# consumer with --override_module to a git checkout of this repository (no dist/): the build
# must fail with the instruction to run `npm ci && npm run build`.
echo "== release archive (archive_override)"
rel="$work/release-consumer"
if node scripts/release.mjs --out "$work/release" --json >"$work/release.json" 2>"$work/release-build.log" &&
  cp -r test/e2e/release-consumer "$rel" && cp -r examples/hello "$rel/hello" &&
  node -e 'process.stdout.write("\n" + JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).archiveOverride)' \
    "$work/release.json" >>"$rel/MODULE.bazel"; then
  pass "npm run release: $(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`${require("path").basename(r.archive)} ${r.integrity}`)' "$work/release.json")"
else
  tail -n 20 "$work/release-build.log"
  fail "npm run release (the archive the consumer uses)"
fi
mkdir -p "$work/checkout" && git archive HEAD | tar -x -C "$work/checkout" || fail "git archive HEAD (a checkout without dist/)"
# shellcheck disable=SC2016 # expanded by the inner shell
release_inner='
set -u
root="$1"; work="$2"; rel="$3"
B() { bazel --bazelrc="$root/scripts/e2e/bazelrc" --bazelrc="$work/stubs/stubs.bazelrc" --bazelrc="$work/extra.bazelrc" "$@"; }
cd "$rel"
B test //... --keep_going >"$work/release.log" 2>&1; echo "$?" >"$work/release.rc"
B cquery @ocikit//:cli_bundle --output=files >"$work/release-cli.txt" 2>"$work/release-cli.log"; echo "$?" >"$work/release-cli.rc"
B build //:app --override_module="ocikit=$work/checkout" >"$work/release-nodist.log" 2>&1; echo "$?" >"$work/release-nodist.rc"
B shutdown >/dev/null 2>&1
'
if [[ -f "$rel/MODULE.bazel" ]]; then
  "$e2e/in-rootfs.sh" forky --bind "$root" --bind "$work" -- bash -c "$release_inner" inner "$root" "$work" "$rel" \
    >"$work/in-rootfs-release.log" 2>&1 || true
  count_tests release "$work/release.log" "$work/release.rc"
  if [[ "$(cat "$work/release-cli.rc" 2>/dev/null)" == 0 ]] && grep -Eqx 'external/ocikit[~+]/dist/ocikit.cjs' "$work/release-cli.txt"; then
    pass "release: @ocikit//:cli is the archive's dist/ocikit.cjs"
  else
    cat "$work/release-cli.txt" "$work/release-cli.log" 2>/dev/null | tail -n 10
    fail "release: @ocikit//:cli is not the archive's dist/ocikit.cjs"
  fi
  if [[ "$(cat "$work/release-nodist.rc" 2>/dev/null)" == 1 ]] &&
    grep -q 'dist/ocikit.cjs is missing' "$work/release-nodist.log" && grep -q 'npm ci && npm run build' "$work/release-nodist.log"; then
    pass "release: a checkout without dist/ fails with 'npm ci && npm run build'"
  else
    tail -n 20 "$work/release-nodist.log" 2>/dev/null
    fail "release: a checkout without dist/ (exit $(cat "$work/release-nodist.rc" 2>/dev/null), no instruction)"
  fi
fi

# A base that lacks a layer blob (cached by the daemon from //:app) fails before buildx runs,
# naming the blob, its manifest, tag and platform, as text (the JSON document is not printed);
# a corrupt layer with verify_base = "digest" fails on its digest.
expect_failure() { # TARGET CODE PATTERN [COMMAND]
  local log="$work/$1.log" cmd="${4:-build}"
  if [[ "$(cat "$work/$1.rc" 2>/dev/null)" == 1 ]] &&
    grep -qE "^ocikit: error $2: build context base: $3" "$log" &&
    grep -qE '^  hint: .*buildx was not started' "$log" && ! grep -q '"error": *{' "$log"; then
    pass "bazel $cmd //:$1 fails with $2 (readable): $(grep -m1 -oE "^ocikit: error $2: .{0,90}" "$log")"
  else
    tail -n 20 "$log" 2>/dev/null
    fail "bazel $cmd //:$1: expected exit 1 with $2 as text"
  fi
}
expect_failure broken_missing_app OCIKIT_BLOB_MISSING 'blob sha256:[0-9a-f]{64} not found .*referenced by manifest sha256:[0-9a-f]{64} \(tag "v1", platform linux/amd64\)'
expect_failure broken_corrupt_app OCIKIT_BLOB_DIGEST_MISMATCH 'blob sha256:[0-9a-f]{64}'
# buildx_args(build = ...) inherits the build's verify_base: the same digest check before docker.
expect_failure broken_corrupt_dev OCIKIT_BLOB_DIGEST_MISMATCH 'blob sha256:[0-9a-f]{64}' run

# OCIKIT_W_UNSANDBOXED: printed by a BuildxBuild run with --spawn_strategy=local (Bazel shows it
# as INFO: From ...), never under linux-sandbox.
if [[ "$(cat "$work/unsandboxed.rc" 2>/dev/null)" == 0 ]] &&
  grep -qE '^ocikit: warning OCIKIT_W_UNSANDBOXED: .*--spawn_strategy=linux-sandbox' "$work/unsandboxed.log"; then
  pass "--spawn_strategy=local: $(grep -m1 -oE 'OCIKIT_W_UNSANDBOXED: .{0,100}' "$work/unsandboxed.log")"
else
  tail -n 20 "$work/unsandboxed.log" 2>/dev/null
  fail "bazel build //:app --spawn_strategy=local: expected OCIKIT_W_UNSANDBOXED"
fi
if [[ "$(cat "$work/unsandboxed-off.rc" 2>/dev/null)" == 0 ]] &&
  grep -qE '"mnemonic": *"BuildxBuild"' "$work/unsandboxed-off.exec.json" 2>/dev/null &&
  ! grep -q 'OCIKIT_W_UNSANDBOXED' "$work/unsandboxed-off.log"; then
  pass "--spawn_strategy=local --@ocikit//:warn_unsandboxed=false: BuildxBuild ran, no OCIKIT_W_UNSANDBOXED"
else
  tail -n 20 "$work/unsandboxed-off.log" 2>/dev/null
  fail "bazel build //:app --spawn_strategy=local --@ocikit//:warn_unsandboxed=false: expected a BuildxBuild run without OCIKIT_W_UNSANDBOXED"
fi
if grep -l 'OCIKIT_W_UNSANDBOXED' "$work/e2e.log" "$work/broken_missing_app.log" "$work/broken_corrupt_app.log" 2>/dev/null; then
  fail "OCIKIT_W_UNSANDBOXED printed under linux-sandbox (files above)"
else
  pass "no OCIKIT_W_UNSANDBOXED under linux-sandbox"
fi

# Hermetic by default: FROM base with the context named basee fails the action before buildx.
if [[ "$(cat "$work/typo.rc" 2>/dev/null)" == 1 ]] && grep -q 'OCIKIT_FROM_UNRESOLVED' "$work/typo.log" &&
  grep -q 'docker.io/library/base:latest' "$work/typo.log" && grep -q 'basee' "$work/typo.log"; then
  pass "bazel build //:from_typo (FROM base, context basee): OCIKIT_FROM_UNRESOLVED"
else
  tail -n 20 "$work/typo.log" 2>/dev/null
  fail "bazel build //:from_typo should fail with OCIKIT_FROM_UNRESOLVED"
fi

# Reproducible by default (source_date_epoch "0", rewrite-timestamp): the Dockerfile comment
# changes no byte and re-runs nothing downstream; clean builds agree.
if [[ "$(cat "$work/repro.rc" 2>/dev/null)" == 0 ]]; then
  if cmp -s "$work/repro-1.list" "$work/repro-2.list"; then
    pass "a Dockerfile comment leaves :app and :app2 byte-identical ($(wc -l <"$work/repro-1.list") files)"
  else
    diff "$work/repro-1.list" "$work/repro-2.list" | head -n 10
    fail "a Dockerfile comment changed the output"
  fi
  # shellcheck disable=SC2016 # JavaScript, not shell
  if ran="$(node -e '
    const fs = require("fs");
    const spawns = (file) => { // the log is a stream of JSON objects
      const text = fs.readFileSync(file, "utf8"), out = [];
      let depth = 0, start = -1, inStr = false;
      for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (inStr) { if (c === "\\") i++; else if (c === "\"") inStr = false; continue; }
        if (c === "\"") inStr = true;
        else if (c === "{") { if (depth++ === 0) start = i; }
        else if (c === "}" && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
      }
      return out.map((s) => `${s.targetLabel} ${s.mnemonic}`);
    };
    const first = spawns(process.argv[1]), second = spawns(process.argv[2]);
    const label = (x) => x.split(" ")[0].replace(/^@@?\/\//, "//");
    if (!first.some((x) => label(x) === "//:app2")) throw new Error(`first build ran no //:app2 action: ${first}`);
    if (!second.includes(second.find((x) => label(x) === "//:app" && x.endsWith(" BuildxBuild"))))
      throw new Error(`the comment did not re-run //:app BuildxBuild: ${second}`);
    const downstream = second.filter((x) => ["//:app_ctx", "//:app2"].includes(label(x)));
    if (downstream.length > 0) throw new Error(`downstream actions re-ran: ${downstream}`);
    console.log(second.join(", "));
  ' "$work/repro-1.exec.json" "$work/repro-2.exec.json" 2>&1)"; then
    pass "after the comment only :app re-ran ($ran); nothing of :app_ctx or :app2"
  else
    echo "$ran" | tail -n 5
    fail "downstream actions after a Dockerfile comment"
  fi
  if cmp -s "$work/repro-3.list" "$work/repro-4.list" && cmp -s "$work/repro-1.list" "$work/repro-3.list"; then
    pass "two clean builds (bazel clean, BuildKit cache pruned) give identical bytes: $(grep -m1 ' ./index.json' "$work/repro-3.list" | cut -c1-80)"
  else
    diff "$work/repro-3.list" "$work/repro-4.list" | head -n 10
    fail "clean builds differ"
  fi
else
  tail -n 20 "$work/repro.log" 2>/dev/null
  fail "reproducibility builds (copy of e2e/)"
fi

if ((failed > 0)); then
  echo "-- last lines of the Bazel logs (kept in $work with OCIKIT_KEEP=1):"
  tail -n 15 "$work/in-rootfs.log" 2>/dev/null
fi
finish
