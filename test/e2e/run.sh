#!/usr/bin/env bash
# Usage: bash test/e2e/run.sh            (what .ci/run calls; root)
#
# The end-to-end suites with a real buildx:
#   1. npm run build if dist/ocikit.cjs is missing;
#   2. scripts/e2e/rootfs.sh trixie + forky, in parallel (cached: ~15 ms when reused);
#   3. scripts/e2e/dockerd.sh start for both suites (state dirs in a temporary directory;
#      always stopped again by the EXIT trap, as are mounts the tests may have left);
#   4. tap on test/e2e/buildx-*.ts and archive-*.ts once per suite, plus test/e2e/interop-*.ts in
#      forky only (then test/e2e/*-serial.ts alone, one at a time: they may restart the daemon),
#      with OCIKIT_E2E_SUITE=trixie|forky,
#      OCIKIT_E2E_STATE=<state dir> (the tests read <state dir>/env) and OCIKIT_E2E_TMP;
#   5. the daemons are stopped, then test/e2e/bazel.sh runs if it exists (it prints
#      "bazel: N passed, N failed" and starts whatever it needs itself).
# Prints the OBSERVED matrix and, last, exactly one line "e2e: N passed, N failed" (all of the
# above summed). Exits non-zero when anything failed, or when a prerequisite is missing and
# CI=true (outside CI a missing prerequisite is a skip with the reason).
# Environment: OCIKIT_E2E_SUITES (default "trixie forky"), OCIKIT_E2E_BAZEL=0 (skip Bazel), OCIKIT_E2E_FILES (default
# test/e2e/buildx-*.ts test/e2e/archive-*.ts, + test/e2e/interop-*.ts in forky), OCIKIT_E2E_KEEP=1 keeps the work dir.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
root="$(pwd)"
scripts="$root/scripts/e2e"
read -r -a suites <<<"${OCIKIT_E2E_SUITES:-trixie forky}"
ci=0
[[ "${CI:-}" =~ ^(true|1|TRUE|True)$ ]] && ci=1

passed=0
failed=0
status=0
say() { printf '[e2e] %s\n' "$*" >&2; }
fail() { # fail WHAT: count one failure
  say "FAIL: $*"
  failed=$((failed + 1))
  status=1
}
missing() { # missing WHAT: a prerequisite is missing (a failure in CI, a skip elsewhere)
  if ((ci)); then
    fail "missing prerequisite: $* (CI=true: a missing prerequisite is a failure)"
  else
    say "SKIP: missing prerequisite: $*"
  fi
}
finish_line() { printf 'e2e: %d passed, %d failed\n' "$passed" "$failed"; }

work=""
declare -A state_of=()
stop_daemons() {
  local s
  for s in "${!state_of[@]}"; do
    "$scripts/dockerd.sh" stop "${state_of[$s]}" >/dev/null 2>&1 || say "warning: stopping the $s daemon failed"
    unset "state_of[$s]"
  done
}
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$? mp
  trap - EXIT INT TERM
  stop_daemons
  if [[ -n "$work" && -d "$work" ]]; then
    # Never remove through a mount: unmount whatever a killed test left (deepest first).
    while read -r mp; do
      [[ -n "$mp" ]] || continue
      say "unmounting leftover $mp"
      umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || say "warning: cannot unmount $mp"
    done < <(awk -v w="$work" '$2 == w || index($2, w "/") == 1 { print $2 }' /proc/mounts | sort -r)
    if [[ "${OCIKIT_E2E_KEEP:-0}" == 1 ]]; then
      say "kept $work"
    elif [[ -z "$(awk -v w="$work" '$2 == w || index($2, w "/") == 1' /proc/mounts)" ]]; then
      rm -rf --one-file-system "$work"
    else
      say "warning: mounts remain under $work; not removing it"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# count_tap LOG: add the closing "# { total: N, pass: N, fail: N }" of a tap run; returns 1
# when there is none (the run crashed).
count_tap() {
  local line p f
  line="$(grep -E '^# \{ total: [0-9]+' "$1" | tail -n 1)"
  [[ -n "$line" ]] || return 1
  p="$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$line")"
  f="$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$line")"
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  ((${f:-0} == 0)) || status=1
}

t_start=$SECONDS

# 0. Prerequisites.
if [[ "$(id -u)" -ne 0 ]]; then
  missing "root (debootstrap, dockerd, bind mounts and setpriv need it); running as uid $(id -u)"
  finish_line
  exit "$status"
fi
prereq_ok=1
for tool in node npm debootstrap unshare chroot flock mount umount setpriv; do
  command -v "$tool" >/dev/null 2>&1 || { missing "$tool is not on PATH (scripts/setup.sh installs the Debian packages)"; prereq_ok=0; }
done
if ((!prereq_ok)); then
  finish_line
  exit "$status"
fi

# 1. The CLI bundle.
if [[ ! -f dist/ocikit.cjs ]]; then
  say "dist/ocikit.cjs is missing: npm run build"
  npm run build >&2 || fail "npm run build"
fi

work="$(mktemp -d /tmp/ocikit-e2e.XXXXXX)"
chmod 0755 "$work" # uid 65534 reaches the state dirs' docker wrapper and the test trees
mkdir -p "$work/logs" "$work/tmp"

# 2. Root filesystems, in parallel.
t0=$SECONDS
declare -A rootfs_pid=()
for s in "${suites[@]}"; do
  timeout 1800 "$scripts/rootfs.sh" "$s" >"$work/logs/rootfs-$s.log" 2>&1 &
  rootfs_pid[$s]=$!
done
declare -A ready=()
for s in "${suites[@]}"; do
  if wait "${rootfs_pid[$s]}"; then
    ready[$s]=1
    say "rootfs $s: $(grep -E 'reusing|built|ready' "$work/logs/rootfs-$s.log" | tail -n 1 | cut -c1-160)"
  else
    tail -n 40 "$work/logs/rootfs-$s.log" >&2
    fail "scripts/e2e/rootfs.sh $s"
  fi
done
say "root filesystems: $((SECONDS - t0)) s"

# 3. Daemons.
for s in "${suites[@]}"; do
  [[ -n "${ready[$s]:-}" ]] || continue
  st="$work/state-$s"
  state_of[$s]="$st"
  if ! "$scripts/dockerd.sh" start "$s" "$st" >/dev/null 2>"$work/logs/dockerd-start-$s.log"; then
    cat "$work/logs/dockerd-start-$s.log" >&2
    fail "scripts/e2e/dockerd.sh start $s"
    unset "ready[$s]"
  fi
done

# daemon_answers SUITE: its daemon (not only the client) responds.
daemon_answers() {
  # shellcheck disable=SC1091 # generated by dockerd.sh
  (source "${state_of[$1]}/env" && timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1)
}

# 4. The tap files, once per suite.
forky_files=() # the forky suite only: crane, skopeo, oras and docker-registry are forky packages
if [[ -n "${OCIKIT_E2E_FILES:-}" ]]; then
  read -r -a files <<<"$OCIKIT_E2E_FILES"
else
  shopt -s nullglob
  files=(test/e2e/buildx-*.ts test/e2e/archive-*.ts)
  forky_files=(test/e2e/interop-*.ts)
  shopt -u nullglob
fi
[[ ${#files[@]} -gt 0 ]] || fail "no test/e2e/*.ts files"
# *-serial.ts: one at a time after the rest (OCIKIT_E2E_SERIAL overrides; empty: none).
if [[ -n "${OCIKIT_E2E_SERIAL+x}" ]]; then
  read -r -a serial <<<"$OCIKIT_E2E_SERIAL"
else
  shopt -s nullglob
  serial=(test/e2e/*-serial.ts)
  shopt -u nullglob
fi
for s in "${suites[@]}"; do
  [[ -n "${ready[$s]:-}" && ${#files[@]} -gt 0 ]] || continue
  t0=$SECONDS
  suite_files=("${files[@]}")
  [[ "$s" == forky ]] && suite_files+=("${forky_files[@]}")
  printf '\n== e2e suite %s (%s)\n' "$s" "${suite_files[*]}"
  log="$work/logs/tap-$s.log"
  # tap's include (.taprc: test/*.ts) is bypassed by naming the files.
  OCIKIT_E2E_SUITE="$s" OCIKIT_E2E_STATE="${state_of[$s]}" OCIKIT_E2E_TMP="$work/tmp" \
    node_modules/.bin/tap --disable-coverage --timeout=600 --reporter=tap "${suite_files[@]}" 2>&1 | tee "$log"
  rc="${PIPESTATUS[0]}"
  if ! count_tap "$log"; then
    fail "tap for $s printed no summary (exit $rc)"
  elif [[ "$rc" -ne 0 ]] && ! grep -qE '^# \{.*fail: [1-9]' "$log"; then
    fail "tap for $s exited $rc"
  fi
  # Files that may take the daemon down (and restart it) run alone, after the others.
  if [[ ${#serial[@]} -gt 0 ]]; then
    slog="$work/logs/tap-$s-serial.log"
    OCIKIT_E2E_SUITE="$s" OCIKIT_E2E_STATE="${state_of[$s]}" OCIKIT_E2E_TMP="$work/tmp" \
      node_modules/.bin/tap --disable-coverage --timeout=600 --jobs=1 --reporter=tap "${serial[@]}" 2>&1 | tee "$slog"
    src="${PIPESTATUS[0]}"
    if ! count_tap "$slog"; then
      fail "serial tap for $s printed no summary (exit $src)"
    elif [[ "$src" -ne 0 ]] && ! grep -qE '^# \{.*fail: [1-9]' "$slog"; then
      fail "serial tap for $s exited $src"
    fi
    cat "$slog" >>"$log"
  fi
  if ! daemon_answers "$s"; then
    fail "the $s daemon no longer answers after the tests (it died or was stopped meanwhile)"
  fi
  if [[ "$rc" -ne 0 ]]; then
    say "last lines of the $s daemon's log (${state_of[$s]}/dockerd.log):"
    tail -n 30 "${state_of[$s]}/dockerd.log" | cut -c1-400 >&2
  fi
  say "suite $s: $((SECONDS - t0)) s"
done

observed=""
for s in "${suites[@]}"; do
  [[ -f "$work/logs/tap-$s.log" ]] || continue
  observed+="$(sed -nE 's/^[[:space:]]*# (OBSERVED .*)$/\1/p' "$work/logs/tap-$s.log")"$'\n'
done
stop_daemons

# 5. Bazel, if there is a Bazel e2e suite.
if [[ -f test/e2e/bazel.sh && "${OCIKIT_E2E_BAZEL:-1}" != 0 ]]; then
  t0=$SECONDS
  printf '\n== bazel (test/e2e/bazel.sh)\n'
  bash test/e2e/bazel.sh 2>&1 | tee "$work/logs/bazel.log"
  rc="${PIPESTATUS[0]}"
  line="$(grep -E '^bazel: [0-9]+ passed, [0-9]+ failed$' "$work/logs/bazel.log" | tail -n 1)"
  if [[ -z "$line" ]]; then
    fail "test/e2e/bazel.sh printed no 'bazel: N passed, N failed' line (exit $rc)"
  else
    read -r bp bf < <(sed -nE 's/^bazel: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' <<<"$line")
    passed=$((passed + bp))
    failed=$((failed + bf))
    ((bf == 0)) || status=1
    if [[ "$rc" -ne 0 && "$bf" -eq 0 ]]; then fail "test/e2e/bazel.sh exited $rc"; fi
  fi
  say "bazel: $((SECONDS - t0)) s"
fi

if [[ -n "$observed" ]]; then
  printf '\n== observed behaviour\n%s' "$observed"
fi
say "total: $((SECONDS - t_start)) s"
finish_line
exit "$status"
