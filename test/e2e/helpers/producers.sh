#!/usr/bin/env bash
# Layouts and archives as real producers write them, for test/e2e/interop-producers.ts.
# Runs inside the forky root filesystem (scripts/e2e/in-rootfs.sh), the suite's dockerd at the
# default /run/docker.sock. Usage: producers.sh OUT_DIR REGISTRY_PORT
# Writes OUT_DIR/<shape> (layouts) and OUT_DIR/<shape>.tar (archives), and OUT_DIR/oracle.tsv:
# "shape<TAB>selector<TAB>digest<TAB>tool" lines, the producers' own view of what a tag (or
# tag@platform) names. A step that fails ends the script (set -e) with its command on stderr.
set -euo pipefail
out="$1"
port="$2"
reg="127.0.0.1:$port"
work="$out/.work"
mkdir -p "$work/files/etc" "$work/ctx"
export TMPDIR="$work"
# skopeo as root keeps a blob-info cache in /var/lib/containers: private to this mount namespace.
mkdir -p /var/lib/containers
mount -t tmpfs -o mode=0700 tmpfs /var/lib/containers
cd "$out"
trap 'echo "producers.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
oracle() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$out/oracle.tsv"; }
# oras: the descriptor of DIR:TAG (or FILE.tar:TAG) [--platform P], as oras resolves it.
oras_digest() {
  local ref="$1"
  shift
  oras manifest fetch --descriptor --oci-layout "$ref" "$@" | sed -nE 's/.*"digest":"(sha256:[0-9a-f]{64})".*/\1/p'
}
skopeo_digest() { skopeo inspect --raw "$1" | sha256sum | sed -E 's/^([0-9a-f]+).*/sha256:\1/'; }
sk() { skopeo --insecure-policy "$@"; }

# --- the registry (round trips for crane and oras)
cat >"$work/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: $reg}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# --- umoci: init, new, insert, unpack + repack, several tags on one manifest, config --tag
echo hello >"$work/files/etc/hello"
umoci init --layout umoci
umoci new --image umoci:base
umoci insert --image umoci:base "$work/files/etc/hello" /etc/hello
umoci unpack --image umoci:base "$work/bundle"
echo two >"$work/bundle/rootfs/two"
umoci repack --image umoci:v2 "$work/bundle"
umoci tag --image umoci:v2 latest
umoci tag --image umoci:v2 stable
umoci config --image umoci:v2 --config.label a=b --tag v3
for t in base v2 latest stable v3; do oracle umoci "$t" "$(skopeo_digest "oci:umoci:$t")" skopeo; done

# --- skopeo: oci: with two tags, oci-archive:, zstd layers (directory and archive)
sk copy --format oci oci:umoci:v2 oci:skopeo:t1
sk copy --format oci oci:umoci:v3 oci:skopeo:t2
sk copy --format oci oci:umoci:v2 oci-archive:skopeo.tar:t1
sk copy --format oci --dest-compress-format zstd --dest-force-compress-format oci:umoci:v2 oci:skopeo-zstd:z1
sk copy --format oci --dest-compress-format zstd --dest-force-compress-format oci:umoci:v2 oci-archive:skopeo-zstd.tar:z1
# a Docker archive (not OCI): what docker save wrote before docker 25
sk copy oci:umoci:v2 docker-archive:docker-archive.tar:x/y:v1
oracle skopeo t1 "$(skopeo_digest oci:skopeo:t1)" skopeo
oracle skopeo t2 "$(skopeo_digest oci:skopeo:t2)" skopeo
oracle skopeo.tar t1 "$(skopeo_digest oci-archive:skopeo.tar:t1)" skopeo
oracle skopeo-zstd z1 "$(skopeo_digest oci:skopeo-zstd:z1)" skopeo
oracle skopeo-zstd.tar z1 "$(skopeo_digest oci-archive:skopeo-zstd.tar:z1)" skopeo

# --- buildx (forky 0.29.1): directory and tar, zstd, two platforms with provenance, full names
# shellcheck disable=SC2016 # ${TARGETARCH} is for the Dockerfile
printf 'FROM scratch\nARG TARGETARCH\nCOPY hello /hello\nCOPY hello /hello-${TARGETARCH}\n' >"$work/ctx/Dockerfile"
echo hi >"$work/ctx/hello"
export SOURCE_DATE_EPOCH=0
bx() { docker buildx build --builder default --progress quiet "$@" "$work/ctx" >/dev/null; }
bx --output type=oci,dest="$out/buildx",tar=false -t example.com/team/app:v1
bx --output type=oci,dest="$out/buildx.tar" -t example.com/team/app:v1
bx --output type=oci,dest="$out/buildx-zstd",tar=false,compression=zstd,force-compression=true,oci-mediatypes=true -t app:zstd
bx --platform linux/amd64,linux/arm64 --provenance=mode=max --output type=oci,dest="$out/buildx-multi",tar=false -t docker.io/library/multi:v1
bx --platform linux/amd64,linux/arm64 --provenance=mode=min --output type=oci,dest="$out/buildx-multi.tar" -t multi:v1
for s in buildx buildx.tar buildx-zstd buildx-multi buildx-multi.tar; do
  case "$s" in buildx*multi*) t=v1 ;; buildx-zstd) t=zstd ;; *) t=v1 ;; esac
  oracle "$s" "$t" "$(oras_digest "$s:$t")" oras
done
for s in buildx-multi buildx-multi.tar; do
  for p in linux/amd64 linux/arm64; do oracle "$s" "v1@$p" "$(oras_digest "$s:v1" --platform "$p")" oras; done
done

# --- variants: which manifest BuildKit itself takes from an index holding amd64/v3, arm/v6 and
# arm64 (no plain amd64, no arm/v7) as the base of a build for each platform; "none" when
# buildx finds no match. Each base manifest holds one file named for its platform.
mkdir -p "$work/variants" "$work/app"
# shellcheck disable=SC2016 # the ${...} are the Dockerfile's
printf 'FROM scratch\nARG TARGETARCH\nARG TARGETVARIANT\nCOPY f /f-${TARGETARCH}${TARGETVARIANT}\n' >"$work/variants/Dockerfile"
echo x >"$work/variants/f"
printf 'FROM b\nCOPY Dockerfile /app\n' >"$work/app/Dockerfile"
docker buildx build --builder default --progress quiet --platform linux/amd64/v3,linux/arm/v6,linux/arm64 \
  --output type=oci,dest="$out/buildx-variants",tar=false -t variants:v1 "$work/variants" >/dev/null
vindex="$(oras_digest buildx-variants:v1)"
oracle buildx-variants v1 "$vindex" oras
for p in linux/amd64 linux/amd64/v2 linux/amd64/v3 linux/amd64/v4 linux/arm/v7 linux/arm/v6 linux/arm64 linux/arm64/v8; do
  dest="$work/variant-out"
  rm -rf "$dest"
  if docker buildx build --builder default --progress quiet --platform "$p" \
    --build-context "b=oci-layout://$out/buildx-variants@$vindex" --output type=local,dest="$dest" "$work/app" >/dev/null 2>"$work/variant.err"; then
    file="$(cd "$dest" && ls f-*)"
    # the index entry whose platform names that file
    # shellcheck disable=SC2016 # JavaScript, not shell
    digest="$(node -e 'const fs = require("fs"); const [dir, idx, file] = process.argv.slice(1);
      const m = JSON.parse(fs.readFileSync(`${dir}/blobs/sha256/${idx.slice(7)}`)).manifests
        .find((d) => d.platform && `f-${d.platform.architecture}${d.platform.variant ?? ""}` === file);
      process.stdout.write(m ? m.digest : "unmatched");' "$out/buildx-variants" "$vindex" "$file")"
  elif grep -q 'no match for platform' "$work/variant.err"; then
    digest=none
  else
    cat "$work/variant.err" >&2
    exit 1
  fi
  oracle buildx-variants "v1@$p" "$digest" buildx
done

# --- docker save (OCI-shaped since docker 25; containerd image store): one tag, two tags, two platforms
bx --load -t tp/save:v1 -t tp/save:v2
bx --platform linux/amd64,linux/arm64 --load -t tp/multi:v1
docker save -o "$out/save.tar" tp/save:v1
docker save -o "$out/save2.tar" tp/save:v1 tp/save:v2
docker save -o "$out/save-multi.tar" tp/multi:v1
oracle save.tar v1 "$(docker image inspect --format '{{.Id}}' tp/save:v1)" docker
oracle save2.tar v2 "$(docker image inspect --format '{{.Id}}' tp/save:v2)" docker
oracle save-multi.tar v1 "$(docker image inspect --format '{{.Id}}' tp/multi:v1)" docker
for p in linux/amd64 linux/arm64; do oracle save-multi.tar "v1@$p" "$(oras_digest save-multi.tar:v1 --platform "$p")" oras; done
# the daemon's store is the suite's, shared with the other tests: leave it as it was
docker image rm tp/save:v1 tp/save:v2 tp/multi:v1 >/dev/null

# --- skopeo --all of the buildx index (with its attestation manifests), and the registry copy
sk copy --all --format oci oci:buildx-multi:v1 oci:skopeo-all:v1
sk copy --all oci:buildx-multi:v1 "docker://$reg/multi:v1" --dest-tls-verify=false
oracle skopeo-all v1 "$(skopeo_digest oci:skopeo-all:v1)" skopeo

# --- crane: an image on the empty base (go-containerregistry's empty.Image), one on top of it,
# an index of both (crane index append), each pulled with --format oci
(cd "$work/files" && tar -cf "$work/layer.tar" etc)
crane append --insecure -f "$work/layer.tar" --oci-empty-base -t "$reg/cr/app:a1"
crane append --insecure -f "$work/layer.tar" -b "$reg/cr/app:a1" -t "$reg/cr/app:a2"
crane index append --insecure -m "$reg/cr/app:a1" -m "$reg/cr/app:a2" -t "$reg/cr/idx:i1"
crane pull --insecure "$reg/cr/app:a2" "$out/crane-tarball.tar" # crane's default: a Docker archive
crane pull --insecure --format oci "$reg/cr/app:a1" "$out/crane"
crane pull --insecure --format oci --annotate-ref "$reg/cr/app:a1" "$reg/cr/app:a2" "$out/crane-two"
crane pull --insecure --format oci "$reg/cr/idx:i1" "$out/crane-index"
crane pull --insecure --format oci "$reg/multi:v1" "$out/crane-multi"
oracle crane - "$(crane digest --insecure "$reg/cr/app:a1")" crane
oracle crane-two "$reg/cr/app:a1" "$(crane digest --insecure "$reg/cr/app:a1")" crane
oracle crane-two "$reg/cr/app:a2" "$(crane digest --insecure "$reg/cr/app:a2")" crane
oracle crane-index - "$(crane digest --insecure "$reg/cr/idx:i1")" crane
oracle crane-multi - "$(crane digest --insecure "$reg/multi:v1")" crane
for p in linux/amd64 linux/arm64; do oracle crane-multi "-@$p" "$(crane digest --insecure --platform "$p" "$reg/multi:v1")" crane; done

# --- oras: artifacts (artifactType, empty config with data, a custom config type), a referrer
# (subject) attached in the layout and in the registry, copied with its referrers
echo artifact >"$work/a.txt"
echo sig >"$work/sig.txt"
(
  cd "$work"
  oras push --oci-layout "$out/oras:v1" --artifact-type application/vnd.example.thing a.txt >/dev/null
  oras attach --oci-layout "$out/oras:v1" --artifact-type application/vnd.example.sig sig.txt >/dev/null
  oras push --oci-layout "$out/oras:v0" --image-spec v1.0 --artifact-type application/vnd.example.cfg a.txt >/dev/null
  oras push --plain-http "$reg/or/art:v1" --artifact-type application/vnd.example.thing a.txt >/dev/null
  oras attach --plain-http "$reg/or/art:v1" --artifact-type application/vnd.example.sig sig.txt >/dev/null
  oras attach --plain-http "$reg/multi:v1" --artifact-type application/vnd.example.sig sig.txt >/dev/null
)
# an image with a non-distributable layer: oras keeps such a blob out of the layout (no urls)
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%064d"]}}' 0 >"$work/cfg.json"
echo layer >"$work/l.tar.gz"
(cd "$work" && oras push --oci-layout "$out/oras-nondist:v1" --config cfg.json:application/vnd.oci.image.config.v1+json \
  l.tar.gz:application/vnd.oci.image.layer.nondistributable.v1.tar+gzip >/dev/null)
oras copy -r --from-plain-http "$reg/or/art:v1" --to-oci-layout "$out/oras-copy:v1" >/dev/null
oras copy -r --from-plain-http "$reg/multi:v1" --to-oci-layout "$out/oras-multi:v1" >/dev/null
for t in v0 v1; do oracle oras "$t" "$(oras_digest "oras:$t")" oras; done
oracle oras-copy v1 "$(oras_digest oras-copy:v1)" oras
oracle oras-nondist v1 "$(oras_digest oras-nondist:v1)" oras
oracle oras-multi v1 "$(oras_digest oras-multi:v1)" oras
for p in linux/amd64 linux/arm64; do oracle oras-multi "v1@$p" "$(oras_digest oras-multi:v1 --platform "$p")" oras; done
rm -rf "$work"
echo "producers.sh: done"
