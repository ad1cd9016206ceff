# shellcheck shell=bash
# Shared helpers for scripts/e2e/*.sh. Source it; do not execute it.
#
#   OCIKIT_CACHE          cache folder for the root filesystems (default /var/cache/ocikit)
#   OCIKIT_DEBIAN_MIRROR  override the Debian mirror URI (default: read from the host's apt
#                         configuration at run time; no mirror host name is written in here)

OCIKIT_CACHE="${OCIKIT_CACHE:-/var/cache/ocikit}"

log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ocikit_suite_ok SUITE: only the suites the recipes know.
ocikit_suite_ok() {
  case "$1" in
    trixie | forky) return 0 ;;
    *) return 1 ;;
  esac
}

# ocikit_rootfs SUITE: path of the (finished) root filesystem of SUITE.
ocikit_rootfs() { printf '%s/rootfs-%s\n' "$OCIKIT_CACHE" "$1"; }

# ocikit_mirror: print the main Debian archive URI of the host's apt configuration.
# deb822 (*.sources, "URIs:") first, then one-line sources.list entries; stanzas and lines
# whose suites are security suites are skipped.
ocikit_mirror() {
  if [[ -n "${OCIKIT_DEBIAN_MIRROR:-}" ]]; then
    printf '%s\n' "${OCIKIT_DEBIAN_MIRROR%/}"
    return 0
  fi
  local f uri=""
  shopt -s nullglob
  for f in /etc/apt/sources.list.d/*.sources; do
    uri="$(awk 'BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""; types = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^[ \t]*#/) continue
          if (match(line, /^[A-Za-z-]+:/)) {
            key = tolower(substr(line, 1, RLENGTH - 1)); val = substr(line, RLENGTH + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", val)
            if (key == "uris") uris = val
            else if (key == "suites") suites = val
            else if (key == "types") types = val
            else if (key == "enabled") enabled = tolower(val)
          }
        }
        if (enabled == "no" || types !~ /(^|[ \t])deb([ \t]|$)/ || suites ~ /-security/) next
        split(uris, u, /[ \t]+/)
        if (u[1] != "") { print u[1]; exit }
      }' "$f")"
    [[ -n "$uri" ]] && break
  done
  if [[ -z "$uri" ]]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -r "$f" ]] || continue
      uri="$(awk '$1 == "deb" {
          i = 2
          if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
          if ($(i + 1) ~ /-security/) next
          print $i; exit
        }' "$f")"
      [[ -n "$uri" ]] && break
    done
  fi
  shopt -u nullglob
  [[ -n "$uri" ]] || die "no Debian mirror URI found in the host's apt configuration (set OCIKIT_DEBIAN_MIRROR)"
  printf '%s\n' "${uri%/}"
}

# ocikit_pids_in_mntns NSLINK: PIDs whose mount namespace is NSLINK (as readlink /proc/PID/ns/mnt).
ocikit_pids_in_mntns() {
  local p ns
  for p in /proc/[0-9]*; do
    ns="$(readlink "$p/ns/mnt" 2>/dev/null)" || continue
    [[ "$ns" == "$1" ]] && printf '%s\n' "${p#/proc/}"
  done
  return 0
}

# ocikit_umount_under DIR: lazily unmount anything mounted at or below DIR in this namespace
# (deepest first). Normally there is nothing: the scripts mount only in private namespaces.
ocikit_umount_under() {
  local dir m
  dir="$(realpath -m "$1")"
  awk -v d="$dir" '{ gsub(/\\040/, " ", $2); if ($2 == d || index($2, d "/") == 1) print $2 }' /proc/self/mounts |
    sort -r | while IFS= read -r m; do
      log "unmounting leftover mount $m"
      umount -l "$m" || true
    done
}
