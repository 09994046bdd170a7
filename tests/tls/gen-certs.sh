#!/bin/sh
# Test certificates for the TLS suites and the demos, made with the openssl
# CLI (EC P-256: fast), into OUTDIR:
#   ca.pem ca.key              the test CA
#   server.pem server.key      localhost, 127.0.0.1, ::1 (server.pem: leaf + CA,
#                              usable as a chain file)
#   other.pem other.key        other.test and *.wild.test (SNI tests)
#   client.pem client.key      a client certificate (CN=client)
#   selfsigned.pem/.key        localhost, self-signed (not from the test CA)
#   expired.pem/.key           localhost, from the test CA, expired
# Idempotent: does nothing once OUTDIR/stamp exists.
#   sh tests/tls/gen-certs.sh OUTDIR
set -eu
out=${1:?usage: gen-certs.sh OUTDIR}
[ -f "$out/stamp" ] && exit 0
command -v openssl >/dev/null 2>&1 || { echo "gen-certs: openssl not found (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key "$out/ca.key"
openssl req -x509 -new -key "$out/ca.key" -out "$out/ca.pem" -days 3650 -subj /CN=switchboard-test-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null

# leaf NAME SUBJECT SAN DAYS [ext]: a certificate from the test CA.
leaf() {
    key "$out/$1.key"
    openssl req -new -key "$out/$1.key" -out "$tmp/$1.csr" -subj "$2" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\n' "$3" "${5:-serverAuth}" \
        > "$tmp/$1.ext"
    openssl x509 -req -in "$tmp/$1.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
        -CAserial "$tmp/ca.srl" -out "$out/$1.pem" -days "$4" -extfile "$tmp/$1.ext" 2>/dev/null
}
leaf server /CN=localhost "DNS:localhost,IP:127.0.0.1,IP:::1" 3650
cat "$out/ca.pem" >> "$out/server.pem"
leaf other /CN=other.test "DNS:other.test,DNS:*.wild.test" 3650
leaf client /CN=client "DNS:client" 3650 clientAuth
# Expired: `openssl ca` is the one 3.0 command that takes explicit dates.
key "$out/expired.key"
openssl req -new -key "$out/expired.key" -out "$tmp/expired.csr" -subj /CN=localhost 2>/dev/null
mkdir -p "$tmp/ca" && : > "$tmp/ca/index.txt" && echo 1000 > "$tmp/ca/serial"
cat > "$tmp/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
dir = $tmp/ca
database = $tmp/ca/index.txt
serial = $tmp/ca/serial
new_certs_dir = $tmp/ca
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = ext
[any]
commonName = supplied
[ext]
subjectAltName = DNS:localhost,IP:127.0.0.1
basicConstraints = CA:FALSE
CNF
openssl ca -batch -config "$tmp/ca.cnf" -cert "$out/ca.pem" -keyfile "$out/ca.key" \
    -in "$tmp/expired.csr" -out "$out/expired.pem" -startdate 20200101000000Z \
    -enddate 20200102000000Z -notext 2>/dev/null
key "$out/selfsigned.key"
openssl req -x509 -new -key "$out/selfsigned.key" -out "$out/selfsigned.pem" -days 3650 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
touch "$out/stamp"
