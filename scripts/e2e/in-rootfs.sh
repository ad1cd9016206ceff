#!/usr/bin/env bash
# Usage: scripts/e2e/in-rootfs.sh SUITE [--bind HOSTDIR]... [--ro-bind HOSTDIR]...
#                                 [--env NAME[=VALUE]]... -- CMD [ARG...]
#
# Run CMD inside the SUITE root filesystem (rootfs.sh builds/reuses it; normally forky, which
# has bazel, nodejs, docker, skopeo, umoci), entered with `unshare --mount --pid --fork` and
# pivot_root -- NOT chroot: in a chroot the kernel refuses the user namespaces that Bazel's
# linux-sandbox needs ("clone: Operation not permitted") and Bazel silently falls back to
# processwrapper-sandbox.
#
# Inside: /proc (fresh, own PID namespace), /sys and /dev (rbind), /tmp (a private tmpfs),
# each --bind HOSTDIR at the same absolute path (read-write; --ro-bind: read-only), the
# rootfs' own /run (so a daemon started by dockerd.sh for the same suite is reachable at the
# default unix:///run/docker.sock). Working directory: the caller's if it is visible inside
# (i.e. under a --bind), else / (with a warning). Environment: a clean one (HOME=/root, PATH,
# LANG=C.UTF-8, TERM) plus --env entries (NAME alone copies the caller's value).
# Exit status: CMD's. When CMD ends, every process it left behind (e.g. the Bazel server)
# is killed with the PID namespace, so no server outlives the mounts it was started with.
# Bind destinations are created as empty directories in the rootfs if missing (under /tmp they
# live in the tmpfs); a destination whose path crosses a symlink in the rootfs is refused.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

usage() { die "usage: $0 SUITE [--bind HOSTDIR]... [--ro-bind HOSTDIR]... [--env NAME[=VALUE]]... -- CMD..."; }
[[ $# -ge 1 ]] || usage
suite="$1"
shift
ocikit_suite_ok "$suite" || die "unknown suite '$suite' (trixie | forky)"
[[ "$(id -u)" -eq 0 ]] || die "must run as root"

binds=()   # triples: source destination mode
envs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bind | --ro-bind)
      [[ $# -ge 2 ]] || usage
      [[ -e "$2" ]] || die "$1 $2: no such file or directory"
      mode=rw
      [[ "$1" == --ro-bind ]] && mode=ro
      binds+=("$(realpath -e "$2")" "$(realpath -ms "$2")" "$mode")
      shift 2
      ;;
    --env)
      [[ $# -ge 2 ]] || usage
      if [[ "$2" == *=* ]]; then
        envs+=("$2")
      else
        [[ -n "${!2+x}" ]] && envs+=("$2=${!2}")
      fi
      shift 2
      ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[[ $# -ge 1 ]] || usage

rootfs="$("$here/rootfs.sh" "$suite")"

# Refuse bind destinations that would walk through a symlink of the rootfs (e.g. /var/run ->
# /run is absolute: mkdir -p would follow it out to the host).
for ((i = 0; i < ${#binds[@]}; i += 3)); do
  dst="${binds[i + 1]}"
  [[ "$dst" != / ]] || die "cannot bind over /"
  p=""
  IFS=/ read -r -a parts <<<"${dst#/}"
  for part in "${parts[@]}"; do
    p="$p/$part"
    [[ -L "$rootfs$p" ]] && die "bind destination $dst crosses the symlink $p in the rootfs"
  done
done

# shellcheck disable=SC2016 # the script is expanded by the inner bash
inner='
set -euo pipefail
r="$1"; cwd="$2"; nb="$3"; shift 3
mount --bind "$r" "$r"                      # pivot_root needs new_root to be a mount point
mount -t proc proc "$r/proc"
mount --rbind /sys "$r/sys"
mount --rbind /dev "$r/dev"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/tmp"
for ((i = 0; i < nb; i++)); do
  src="$1"; dst="$2"; mode="$3"; shift 3
  if [[ -d "$src" ]]; then mkdir -p "$r$dst"; else mkdir -p "$(dirname "$r$dst")"; [[ -e "$r$dst" ]] || : >"$r$dst"; fi
  mount --rbind "$src" "$r$dst"
  [[ "$mode" == ro ]] && mount -o remount,bind,ro "$r$dst"
done
ne="$1"; shift
envs=("${@:1:ne}"); shift "$ne"
cd "$r"
pivot_root . .
umount -l .                                 # detach the old root: no way back to the host fs
cd /
if ! cd "$cwd" 2>/dev/null; then
  echo "[in-rootfs.sh] warning: working directory $cwd is not visible inside; using /" >&2
  cd /
fi
# Not exec: this shell stays PID 1 of the namespace and reaps orphans; CMD status is ours.
rc=0
/usr/bin/env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PWD="$PWD" \
  "${envs[@]}" "$@" || rc=$?
exit "$rc"
'

export TERM="${TERM:-dumb}"
exec unshare --mount --pid --fork --kill-child --propagation private -- \
  /bin/bash -c "$inner" in-rootfs "$rootfs" "$PWD" "$((${#binds[@]} / 3))" "${binds[@]}" \
  "${#envs[@]}" "${envs[@]}" "$@"
