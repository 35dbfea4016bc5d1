#!/bin/bash
# measure_image.sh: print the expected SEV-SNP and TDX launch measurements
# of the guest image just built, and write them as reference values.
#
#   measure_image.sh --image DIR --measure COFFER_MEASURE --vmm COFFER_VMM
#       [--snp-firmware FILE] [--tdx-firmware FILE] [--firmware-cache DIR]
#       [--kernel-cache DIR] [--vcpus "1 2"] [--vcpu-types EPYC-Milan,...]
#       [--memory-mib N] [--log-level L] [--kernel-params P]
#
# The kernel command line is the one the libvirt backend builds
# (`coffer-vmm cmdline`, the same function), for the configured log level and
# extra parameters. Firmware not given is Debian's (ovmf-amdsev,
# ovmf-inteltdx from sid), downloaded into --firmware-cache. The measured
# kernel is DIR/vmlinuz (the bzImage the sev-snp and tdx domains boot
# through OVMF/TDVF); an image without one gets the bzImage of its kernel
# package from --kernel-cache, and says so.
#
# A firmware of "none" leaves that profile out.
#
# Writes DIR/reference-values.json (the --reference format of coffer-attest,
# which the key broker loads) and DIR/measurements.json (the same values with
# every input named and hashed). Never fails the build for a missing network:
# it prints why it measured nothing instead.
set -euo pipefail

IMAGE= M= VMM= SNP_FW= TDX_FW= FW_CACHE= KCACHE= VCPUS=1 TYPES=EPYC-Milan,EPYC-Genoa,EPYC-Turin
MEM=256 LEVEL=info PARAMS=
while [ $# -gt 0 ]; do
  case $1 in
    --image) IMAGE=$2 ;;
    --measure) M=$2 ;;
    --vmm) VMM=$2 ;;
    --snp-firmware) SNP_FW=$2 ;;
    --tdx-firmware) TDX_FW=$2 ;;
    --firmware-cache) FW_CACHE=$2 ;;
    --kernel-cache) KCACHE=$2 ;;
    --vcpus) VCPUS=$2 ;;
    --vcpu-types) TYPES=$2 ;;
    --memory-mib) MEM=$2 ;;
    --log-level) LEVEL=$2 ;;
    --kernel-params) PARAMS=$2 ;;
    *) echo "measure_image.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ -n "$IMAGE" ] && [ -n "$M" ] && [ -n "$VMM" ] || { echo "measure_image.sh: --image, --measure, --vmm needed" >&2; exit 2; }
say() { echo "measure: $*"; }
HERE=$(cd "$(dirname "$0")" && pwd)
IMAGE=$(cd "$IMAGE" && pwd)
FW_CACHE=${FW_CACHE:-$(dirname "$IMAGE")/measure-firmware}

initrd=$IMAGE/initramfs.img
[ -f "$initrd" ] || { say "no $initrd: nothing to measure"; exit 0; }
kernel=$IMAGE/vmlinuz
kernel_note="the image's bzImage"
if [ ! -f "$kernel" ]; then
  release=$(cat "$IMAGE/kernel-release" 2>/dev/null || true)
  deb=$(ls "$KCACHE"/linux-image-"$release"_*.deb 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$release" ] && [ -n "$deb" ] || { say "the image has no vmlinuz and no kernel package is cached: nothing measured"; exit 0; }
  x=$(dirname "$IMAGE")/guest-image-measure
  rm -rf "$x" && mkdir -p "$x"
  dpkg --fsys-tarfile "$deb" | tar -x -C "$x" "./boot/vmlinuz-$release"
  kernel=$x/boot/vmlinuz-$release
  kernel_note="bzImage of $(basename "$deb") (the image has no vmlinuz yet)"
fi

args=(--log-level "$LEVEL")
[ -n "$PARAMS" ] && args+=(--kernel-params "$PARAMS")
cmdline=$("$VMM" cmdline "${args[@]}")

if [ -z "$SNP_FW" ] || [ -z "$TDX_FW" ]; then
  if roots=$("$HERE/measure_fetch_firmware.sh" "$FW_CACHE" ovmf-amdsev ovmf-inteltdx 2>/tmp/measure-fetch.$$); then
    [ -n "$SNP_FW" ] || SNP_FW=$(echo "$roots" | sed -n 1p)/usr/share/ovmf/OVMF.amdsev.fd
    [ -n "$TDX_FW" ] || TDX_FW=$(ls "$(echo "$roots" | sed -n 2p)"/usr/share/ovmf/OVMF.inteltdx*.fd | head -1)
  else
    say "Debian firmware unavailable ($(cat /tmp/measure-fetch.$$)); set COFFER_MEASURE_SNP_FIRMWARE / COFFER_MEASURE_TDX_FIRMWARE"
  fi
  rm -f /tmp/measure-fetch.$$
fi
[ "$SNP_FW" = none ] && SNP_FW=
[ "$TDX_FW" = none ] && TDX_FW=
[ -n "$SNP_FW" ] || [ -n "$TDX_FW" ] || { say "no firmware: nothing measured"; exit 0; }

# A kernel >= 6.9 logs its command line and initrd into RTMR[2] itself.
release=$(cat "$IMAGE/kernel-release" 2>/dev/null || echo 0.0)
major=${release%%.*} rest=${release#*.} minor=${rest%%.*}
stub=()
if [ "$major" -gt 6 ] || { [ "$major" = 6 ] && [ "$minor" -ge 9 ]; }; then stub=(--stub-measures); fi

say "kernel    $kernel ($kernel_note)"
say "initrd    $initrd"
say "cmdline   \"$cmdline\" (coffer-vmm cmdline --log-level $LEVEL${PARAMS:+ --kernel-params \"$PARAMS\"})"
ref=(reference --kernel "$kernel" --initrd "$initrd" --append "$cmdline" --memory "$MEM" "${stub[@]}")
snp_lines="" tdx_lines=""
if [ -n "$SNP_FW" ]; then
  say "sev-snp   firmware $SNP_FW, guest features 0x1, kernel hashes"
  for n in $VCPUS; do
    for t in ${TYPES//,/ }; do
      d=$("$M" snp --ovmf "$SNP_FW" --vcpus "$n" --vcpu-type "$t" --kernel "$kernel" --initrd "$initrd" --append "$cmdline")
      say "  snp measurement  vcpus=$n $t: $d"
      snp_lines+="$n $t $d"$'\n'
    done
  done
fi
if [ -n "$TDX_FW" ]; then
  say "tdx       firmware $TDX_FW, memory $MEM MiB${stub:+, stub logs RTMR[2]}"
  out=$("$M" tdx --firmware "$TDX_FW" --kernel "$kernel" --initrd "$initrd" --append "$cmdline" --memory "$MEM" "${stub[@]}")
  while read -r k v; do say "  tdx $k: $v"; done <<<"$out"
  if [ ${#stub[@]} = 0 ]; then
    say "  WARNING: kernel $release predates the EFI stub's CC measurement (Linux 6.9): under TDX its"
    say "  command line and initrd are measured nowhere (RTMR[2] stays zero); a host could change them."
  fi
  tdx_lines=$out
fi

# reference-values.json: every SNP measurement (vCPU counts x types) is
# accepted; MRTD and RTMR[1]/[2] for the TDX domain.
rargs=()
for n in $VCPUS; do
  rargs=("${ref[@]}")
  [ -n "$SNP_FW" ] && rargs+=(--ovmf "$SNP_FW" --vcpus "$n" --vcpu-type "$TYPES")
  [ -n "$TDX_FW" ] && rargs+=(--tdx-firmware "$TDX_FW")
  "$M" "${rargs[@]}" --output "$IMAGE/reference-values.$n.json"
done
/usr/bin/python3 - "$IMAGE" $VCPUS <<'PY'
import json, sys
d, counts = sys.argv[1], sys.argv[2:]
out = {}
for n in counts:
    part = json.load(open(f"{d}/reference-values.{n}.json"))
    if "snp" in part:
        out.setdefault("snp", {"measurement": []})["measurement"] += part["snp"]["measurement"]
    if "tdx" in part:
        out["tdx"] = part["tdx"]
json.dump(out, open(f"{d}/reference-values.json", "w"), indent=2)
open(f"{d}/reference-values.json", "a").write("\n")
PY
for n in $VCPUS; do rm -f "$IMAGE/reference-values.$n.json"; done

# measurements.json: the same values with every input named and hashed.
KERNEL=$kernel INITRD=$initrd CMDLINE=$cmdline SNP_FW=$SNP_FW TDX_FW=$TDX_FW MEM=$MEM \
SNP_LINES=$snp_lines TDX_LINES=$tdx_lines STUB=${#stub[@]} /usr/bin/python3 - "$IMAGE/measurements.json" <<'PY'
import hashlib, json, os, sys
e = os.environ
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
doc = {"kernel": {"path": e["KERNEL"], "sha256": sha(e["KERNEL"])},
       "initrd": {"path": e["INITRD"], "sha256": sha(e["INITRD"])},
       "cmdline": e["CMDLINE"]}
if e["SNP_FW"]:
    doc["snp"] = {"firmware": e["SNP_FW"], "firmware_sha256": sha(e["SNP_FW"]), "guest_features": "0x1",
                  "kernel_hashes": True,
                  "measurements": [dict(zip(("vcpus", "vcpu_type", "measurement"), (int(l.split()[0]),) + tuple(l.split()[1:])))
                                   for l in e["SNP_LINES"].splitlines() if l]}
if e["TDX_FW"]:
    t = {"firmware": e["TDX_FW"], "firmware_sha256": sha(e["TDX_FW"]), "memory_mib": int(e["MEM"]),
         "stub_measures_rtmr2": e["STUB"] != "0"}
    t.update(dict(l.split() for l in e["TDX_LINES"].splitlines() if l))
    doc["tdx"] = t
with open(sys.argv[1], "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
PY
say "reference values: $IMAGE/reference-values.json (coffer-attest --reference format)"
