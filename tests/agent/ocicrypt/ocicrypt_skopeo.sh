#!/bin/sh
# Builds the images test_ocicrypt reads: a busybox image as an OCI layout
# (tests/critest/images.py) and skopeo's encryptions of it with
# --encryption-key jwe:PUBKEY for an RSA-2048 key, an EC P-256 key, and both.
#   ocicrypt_skopeo.sh TEST_BINARY IMAGES_PY
set -eu
test_bin=$1
images_py=$2
for tool in skopeo openssl python3 busybox; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done
bb=$(command -v busybox)
work=$(mktemp -d /tmp/coffer-ocicrypt.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 "$images_py" "$work/img" "$bb" >/dev/null
ref=$(head -n1 "$work/img/refs" | cut -d' ' -f1)
skopeo copy -q "oci:$work/img/oci:$ref" "oci:$work/plain:x"
openssl genrsa -out "$work/rsa.pem" 2048 2>/dev/null
openssl rsa -in "$work/rsa.pem" -pubout -out "$work/rsa.pub" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$work/ec.pem"
openssl ec -in "$work/ec.pem" -pubout -out "$work/ec.pub" 2>/dev/null
skopeo copy -q --encryption-key "jwe:$work/rsa.pub" "oci:$work/plain:x" "oci:$work/enc-rsa:x"
skopeo copy -q --encryption-key "jwe:$work/ec.pub" "oci:$work/plain:x" "oci:$work/enc-ec:x"
skopeo copy -q --encryption-key "jwe:$work/rsa.pub" --encryption-key "jwe:$work/ec.pub" \
  "oci:$work/plain:x" "oci:$work/enc-both:x"
"$test_bin" "$work"
