#!/bin/bash
# debian_firmware.sh CACHE COFFER_MEASURE TEST_MEASURE_UNIT KERNEL_DEB_DIR
# Against Debian's real firmware (ovmf-amdsev, ovmf-inteltdx from sid,
# downloaded into CACHE) and Debian's signed cloud kernel (the guest image's
# package, from KERNEL_DEB_DIR when the guest image was built):
#  - SNP: the AmdSev build measures a direct kernel boot (it has the
#    SNP_KERNEL_HASHES section); the IntelTdx build is refused for it.
#  - TDX: a flipped byte of a measured TDVF section changes MRTD, of an
#    unmeasured one does not.
#  - The Authenticode digest coffer-measure computes for the kernel (SHA-256,
#    as Debian signed it) equals the digest inside the kernel's own
#    Authenticode signature: the PE hashing behind RTMR[1] checked against
#    real data.
set -u
CACHE=$1 M=$2 UNIT=$3 DEBS=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
FETCH=$HERE/../../attest/measure_fetch_firmware.sh
roots=$("$FETCH" "$CACHE" ovmf-amdsev ovmf-inteltdx) || exit $?
AMD=$(echo "$roots" | sed -n 1p)/usr/share/ovmf/OVMF.amdsev.fd
TDX=$(ls "$(echo "$roots" | sed -n 2p)"/usr/share/ovmf/OVMF.inteltdx*.fd | head -1)
fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 100000 /dev/urandom > "$work/k"

d=$("$M" snp --ovmf "$AMD" --vcpus 1 --vcpu-type EPYC-Milan --kernel "$work/k" --append "x") &&
  [ ${#d} = 96 ] && echo "ok   snp on Debian OVMF.amdsev with kernel hashes: $d" ||
  { echo "FAIL snp on Debian OVMF.amdsev"; fail=1; }
out=$("$M" snp --ovmf "$TDX" --vcpus 1 --vcpu-type EPYC-Milan --kernel "$work/k" 2>&1)
[ $? = 1 ] && [[ $out == *"SNP_KERNEL_HASHES"* || $out == *"kernel hashes section"* ]] &&
  echo "ok   the IntelTdx build refused for SNP kernel hashes: $out" ||
  { echo "FAIL IntelTdx build for SNP: $out"; fail=1; }

"$UNIT" tdx-firmware "$HERE/vectors" "$TDX" || fail=1

deb=$(ls "$DEBS"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -1)
if [ -z "$deb" ]; then
  echo "note: no kernel package in '$DEBS' (build the guest-image target): Authenticode check not run"
else
  dpkg --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards './boot/vmlinuz-*'
  K=$(ls "$work"/boot/vmlinuz-* | head -1)
  ours=$("$M" authenticode --kernel "$K" --sha256)
  # The signature: PE certificate table -> WIN_CERTIFICATE -> PKCS#7; the
  # SpcIndirectDataContent's digest is the OCTET STRING after the sha256 OID.
  /usr/bin/python3 - "$K" "$work/sig.der" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
pe = struct.unpack_from('<I', d, 0x3c)[0]
opt = pe + 24
magic = struct.unpack_from('<H', d, opt)[0]
dirs = opt + (112 if magic == 0x20b else 96)
off, size = struct.unpack_from('<II', d, dirs + 4 * 8)
length = struct.unpack_from('<I', d, off)[0]
open(sys.argv[2], 'wb').write(d[off + 8:off + length])
PY
  theirs=$(openssl asn1parse -inform DER -in "$work/sig.der" 2>/dev/null |
           awk '/:sha256/ {f=1; next} f && /OCTET STRING/ {sub(/.*\[HEX DUMP\]:/, ""); print tolower($0); exit}')
  if [ -n "$theirs" ] && [ "$ours" = "$theirs" ]; then
    echo "ok   Authenticode SHA-256 of $(basename "$K") = its signature's digest $ours"
  else
    echo "FAIL Authenticode of $(basename "$K"): ours '$ours', signature '$theirs'"
    fail=1
  fi
fi
exit $fail
