#!/usr/bin/env bash
# Usage: scripts/e2e/rootfs.sh SUITE
#
# Build (or reuse) a Debian root filesystem for ocikit's end-to-end tests and print its path
# on stdout. Logs go to stderr. Must run as root.
#
#   SUITE = trixie : docker.io docker-buildx docker-cli (+ containerd, runc as dependencies)
#                    -> buildx 0.13.1, docker 26.1, containerd 1.7
#   SUITE = forky  : the above + bazel-bootstrap nodejs skopeo umoci
#                    -> buildx 0.29, docker 28.5, containerd 2.x, Bazel 7
#
# Result: ${OCIKIT_CACHE:-/var/cache/ocikit}/rootfs-SUITE, containing
#   /.ocikit-rootfs-stamp          recipe version + installed versions of the key packages
#   /etc/docker/daemon.json        {"features":{"containerd-snapshotter":true}}
# An existing rootfs whose stamp carries the same recipe line is reused ("reusing").
# A rootfs is built in a temporary sibling (rootfs-SUITE.tmp.*) and renamed when complete.
# Runs for the same suite are serialised by flock on OCIKIT_CACHE/rootfs-SUITE.lock.
# The Debian mirror is read from the host's apt configuration (OCIKIT_DEBIAN_MIRROR overrides).
# Apt archives are kept in OCIKIT_CACHE/apt-archives-SUITE to make rebuilds cheaper.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

# Bump when anything below changes the produced rootfs.
RECIPE_VERSION=1

[[ $# -eq 1 ]] || die "usage: $0 SUITE   (trixie | forky)"
suite="$1"
ocikit_suite_ok "$suite" || die "unknown suite '$suite' (trixie | forky)"
[[ "$(id -u)" -eq 0 ]] || die "must run as root (debootstrap, mounts)"
for tool in debootstrap unshare chroot flock dpkg-query; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done

case "$suite" in
  trixie) packages=(docker.io docker-buildx docker-cli) ;;
  forky) packages=(docker.io docker-buildx docker-cli bazel-bootstrap nodejs skopeo umoci crane oras docker-registry openssl) ;;
esac
key_packages=(docker.io docker-buildx docker-cli containerd runc bazel-bootstrap nodejs skopeo umoci crane oras docker-registry)
recipe="ocikit-rootfs/$RECIPE_VERSION suite=$suite packages=${packages[*]}"

mkdir -p "$OCIKIT_CACHE"
final="$(ocikit_rootfs "$suite")"
stamp_name=".ocikit-rootfs-stamp"

exec 9>"$OCIKIT_CACHE/rootfs-$suite.lock"
if ! flock -n 9; then
  log "waiting for another rootfs.sh $suite (lock $OCIKIT_CACHE/rootfs-$suite.lock)"
  flock 9
fi

if [[ -f "$final/$stamp_name" ]] && grep -qxF "recipe: $recipe" "$final/$stamp_name"; then
  log "reusing $final ($(grep -E '^(docker.io|docker-buildx|bazel-bootstrap):' "$final/$stamp_name" | tr '\n' ' '))"
  printf '%s\n' "$final"
  exit 0
fi

# A daemon still running from an outdated rootfs would lose its files under it.
if [[ -d "$final" ]]; then
  # docker.pid, and docker-NAME.pid of named daemons (dockerd.sh start --name NAME)
  for pidfile in "$final"/run/docker.pid "$final"/run/docker-*.pid; do
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      die "$final is outdated but dockerd (pid $pid, $pidfile) runs from it; stop it first (dockerd.sh stop STATE_DIR)"
    fi
  done
fi

# Leftovers of interrupted runs (we hold the lock, so nobody is building them).
shopt -s nullglob
for old in "$OCIKIT_CACHE/rootfs-$suite".tmp.* "$OCIKIT_CACHE/rootfs-$suite".old.*; do
  log "removing leftover $old"
  ocikit_umount_under "$old"
  rm -rf --one-file-system "$old"
done
shopt -u nullglob

mirror="$(ocikit_mirror)"
archives="$OCIKIT_CACHE/apt-archives-$suite"
mkdir -p "$archives/partial"
tmp=""
cleanup() {
  if [[ -n "$tmp" && -d "$tmp" ]]; then
    log "cleaning up unfinished $tmp"
    ocikit_umount_under "$tmp"
    rm -rf --one-file-system "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# debootstrap has no script for forky in bookworm's package; sid's script fits testing too.
script="/usr/share/debootstrap/scripts/$suite"
[[ -e "$script" ]] || script=/usr/share/debootstrap/scripts/sid
include=()
[[ "$mirror" == https:* ]] && include=(--include=ca-certificates)

run_debootstrap() {
  # Own mount namespace: debootstrap mounts proc/sys in the target; an interrupted run must
  # not leave those mounts behind on the host.
  unshare --mount --propagation private -- \
    debootstrap --variant=minbase "${include[@]}" "$suite" "$tmp" "$mirror" "$script" >&2
}

# in_root CMD...: run CMD chrooted in $tmp with /proc, /dev and the apt archive cache mounted
# in a private mount namespace (the JDK's postinst needs /proc).
in_root() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare --mount --propagation private -- /bin/bash -euc '
    r="$1"; a="$2"; shift 2
    mount -t proc proc "$r/proc"
    mount --rbind /dev "$r/dev"
    mount --bind "$a" "$r/var/cache/apt/archives"
    exec chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 HOME=/root "$@"
  ' in_root "$tmp" "$archives" "$@" >&2
}

# retry_once DESCRIPTION CMD...: the forky/sid suites move under us; retry a failed step once.
retry_once() {
  local what="$1"
  shift
  if "$@"; then return 0; fi
  log "$what failed; retrying once in 10 s"
  sleep 10
  "$@" || die "$what failed twice"
}

t0=$SECONDS
log "building $final (suite $suite, mirror from host apt config: $mirror)"
new_tmp() { tmp="$(mktemp -d "$OCIKIT_CACHE/rootfs-$suite.tmp.XXXXXX")"; chmod 0755 "$tmp"; }
new_tmp
if ! run_debootstrap; then
  log "debootstrap failed; retrying once in a fresh directory"
  cleanup
  sleep 10
  new_tmp
  run_debootstrap || die "debootstrap $suite failed twice"
fi
log "debootstrap done after $((SECONDS - t0)) s"

# Apt / dpkg configuration of the rootfs. The mirror URI is the host's, as debootstrap wrote it.
cat >"$tmp/etc/apt/apt.conf.d/99ocikit" <<'EOF'
// ocikit e2e rootfs: testing suites may come from a snapshot mirror with expired Release files
Acquire::Check-Valid-Until "false";
Acquire::Check-Date "false";
Acquire::Languages "none";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
printf 'force-unsafe-io\n' >"$tmp/etc/dpkg/dpkg.cfg.d/ocikit-unsafe-io"
# Never start services while installing (no init system in here).
printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
chmod 0755 "$tmp/usr/sbin/policy-rc.d"
mkdir -p "$tmp/etc/docker"
printf '{"features":{"containerd-snapshotter":true}}\n' >"$tmp/etc/docker/daemon.json"

apt_opts=(-y -q -o Acquire::Check-Valid-Until=false -o Acquire::Check-Date=false -o Acquire::Retries=3)
retry_once "apt-get update" in_root apt-get "${apt_opts[@]}" update
retry_once "apt-get install ${packages[*]}" \
  in_root apt-get "${apt_opts[@]}" --no-install-recommends install "${packages[@]}"
in_root apt-get -q autoclean || true
# daemon.json may have been replaced by a package (conffile prompts are non-interactive): re-assert.
printf '{"features":{"containerd-snapshotter":true}}\n' >"$tmp/etc/docker/daemon.json"
log "apt install done after $((SECONDS - t0)) s"

{
  printf 'recipe: %s\n' "$recipe"
  printf 'suite: %s\n' "$suite"
  printf 'mirror: %s\n' "$mirror"
  printf 'built: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'build-seconds: %s\n' "$((SECONDS - t0))"
  for p in "${key_packages[@]}"; do
    v="$(dpkg-query --admindir="$tmp/var/lib/dpkg" -W -f='${db:Status-Abbrev} ${Version}' "$p" 2>/dev/null || true)"
    if [[ "$v" == ii* ]]; then v="${v#ii }"; v="${v# }"; else v="not-installed"; fi
    printf '%s: %s\n' "$p" "$v"
  done
} >"$tmp/$stamp_name"
for p in "${packages[@]}"; do
  grep -q "^$p: not-installed$" "$tmp/$stamp_name" && die "$p is not installed in $tmp"
done

if [[ -d "$final" ]]; then
  old="$final.old.$$"
  mv "$final" "$old"
  mv "$tmp" "$final"
  tmp=""
  rm -rf --one-file-system "$old"
else
  mv "$tmp" "$final"
  tmp=""
fi
log "done in $((SECONDS - t0)) s: $(du -sh "$final" 2>/dev/null | cut -f1)"
sed 's/^/  /' "$final/$stamp_name" >&2
printf '%s\n' "$final"
