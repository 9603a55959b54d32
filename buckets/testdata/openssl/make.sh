#!/bin/sh
# Makes the credential files the buckets tests and fuzz targets read: what
# OpenSSL 3 and Apple's tools hand a developer. Test keys only; nothing here
# is a secret. Certificates are valid from 2025-01-01 to 2125-01-01, so the
# tests can parse them at a fixed time. Run from this folder:
#   sh make.sh    (OpenSSL 3 with its legacy provider)
set -eu
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass='correct horse'

# A stand-in for Apple's Worldwide Developer Relations CA, and an APNS
# certificate it issues: RSA 2048, the bundle id in the subject UID, as
# Apple's are.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.pem" -days 36500 \
  -subj "/CN=Test Worldwide Developer Relations Certification Authority/OU=G4/O=Example CA/C=US" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out apns.key 2>/dev/null
openssl req -new -key apns.key -out "$tmp/apns.csr" \
  -subj "/UID=com.example.app/CN=Apple Push Services: com.example.app/OU=ABCDE12345/O=Example Ltd/C=US"
mkdir "$tmp/ca"; : >"$tmp/ca/index.txt"; echo 01 >"$tmp/ca/serial"
cat >"$tmp/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
dir = $tmp/ca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = push
unique_subject = no
[any]
userId = optional
commonName = supplied
organizationalUnitName = optional
organizationName = optional
countryName = optional
[push]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
CNF
openssl ca -batch -config "$tmp/ca.cnf" -cert "$tmp/ca.pem" -keyfile "$tmp/ca.key" -in "$tmp/apns.csr" \
  -out "$tmp/apns.crt" -startdate 20250101000000Z -enddate 21250101000000Z -notext 2>/dev/null
openssl x509 -in "$tmp/apns.crt" -out apns.pem
cat apns.pem "$tmp/ca.pem" >apns-chain.pem

# .p12 files as OpenSSL 3 writes them by default (PBES2, AES-256, PBKDF2
# with 2048 iterations, SHA-256 MAC), as Keychain Access and OpenSSL 1
# wrote them (RC2-40 for certificates, 3DES for the key, SHA-1 MAC), with
# the chain, with an empty passphrase, and one asking for more key
# derivation than pushgate allows.
openssl pkcs12 -export -in apns.pem -inkey apns.key -name "Apple Push Services" -passout "pass:$pass" -out apns.p12
openssl pkcs12 -export -legacy -in apns.pem -inkey apns.key -name "Apple Push Services" -passout "pass:$pass" -out apns-legacy.p12
openssl pkcs12 -export -in apns.pem -inkey apns.key -certfile "$tmp/ca.pem" -passout "pass:$pass" -out apns-chain.p12
openssl pkcs12 -export -in apns.pem -inkey apns.key -passout pass: -out apns-nopass.p12
openssl pkcs12 -export -in apns.pem -inkey apns.key -iter 200000 -passout "pass:$pass" -out apns-iter.p12

# What "openssl pkcs12 -nodes" makes of a .p12: the certificate and the key
# in one text, each after its "Bag Attributes".
openssl pkcs12 -in apns.p12 -nodes -passin "pass:$pass" -out apns-nodes.pem 2>/dev/null
# The key encrypted, in PKCS#8 and in the traditional OpenSSL form.
openssl pkey -in apns.key -aes256 -passout "pass:$pass" -out apns-encrypted.key
openssl rsa -in apns.key -traditional -des3 -passout "pass:$pass" -out apns-encrypted-traditional.key 2>/dev/null

# An APNS authentication key as Apple's AuthKey_<keyId>.p8 holds it:
# PKCS#8 P-256.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out AuthKey_ABC123DEFG.p8
