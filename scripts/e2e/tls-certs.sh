#!/usr/bin/env bash
# Usage: scripts/e2e/tls-certs.sh DIR
#
# Makes TLS material for a docker daemon on tcp://127.0.0.1 with --tlsverify, with openssl
# (EC P-256, valid 2 days):
#   DIR/ca/ca.pem, ca-key.pem            the CA (its key stays here)
#   DIR/daemon/ca.pem, server-cert.pem, server-key.pem
#                                        for dockerd --tlscacert/--tlscert/--tlskey;
#                                        server certificate: SAN IP:127.0.0.1, serverAuth
#   DIR/client/ca.pem, cert.pem, key.pem for the docker CLI (DOCKER_CERT_PATH names);
#                                        client certificate: clientAuth
# Keys are mode 0600. DIR must not exist or be empty. Prints DIR.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
dir="$1"
mkdir -p "$dir"
[[ -z "$(ls -A "$dir")" ]] || { echo "$0: $dir is not empty" >&2; exit 1; }
umask 077
mkdir "$dir/ca" "$dir/daemon" "$dir/client"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=ocikit e2e CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$dir/ca/ca-key.pem" -out "$dir/ca/ca.pem" 2>/dev/null
# sign NAME CN EXTENSIONS: a key and a certificate signed by the CA
sign() {
  openssl req "${ec[@]}" -subj "/CN=$2" -keyout "$dir/ca/$1-key.pem" -out "$dir/ca/$1.csr" 2>/dev/null
  openssl x509 -req -days 2 -in "$dir/ca/$1.csr" -CA "$dir/ca/ca.pem" -CAkey "$dir/ca/ca-key.pem" \
    -CAcreateserial -extfile <(printf '%s\n' "$3") -out "$dir/ca/$1-cert.pem" 2>/dev/null
}
sign server 127.0.0.1 $'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature'
sign client "ocikit e2e client" $'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature'
cp "$dir/ca/ca.pem" "$dir/daemon/ca.pem"
cp "$dir/ca/server-cert.pem" "$dir/daemon/server-cert.pem"
cp "$dir/ca/server-key.pem" "$dir/daemon/server-key.pem"
cp "$dir/ca/ca.pem" "$dir/client/ca.pem"
cp "$dir/ca/client-cert.pem" "$dir/client/cert.pem"
cp "$dir/ca/client-key.pem" "$dir/client/key.pem"
chmod 0644 "$dir"/*/ca.pem "$dir"/*/*cert.pem
chmod 0755 "$dir" "$dir/daemon" "$dir/client"
openssl verify -CAfile "$dir/ca/ca.pem" "$dir/daemon/server-cert.pem" "$dir/client/cert.pem" >/dev/null
printf '%s\n' "$dir"
