#!/usr/bin/env bash
# Golden-file checks of `coffer-vmm xml` (tests/vmm/golden/<profile>.json →
# .xml). The specs name their accelerator, so no probing is involved; the
# host's /dev/vhost-net is not probed either (GOLDEN_VHOST_NET, default no:
# the goldens hold QEMU's NIC backend; yes validates the vhost form).
#   golden.sh compare  HELPER golden/NAME          output == NAME.xml (diff shown)
#   golden.sh validate HELPER golden/NAME SCHEMAS  output validates (xmllint --relaxng)
#   golden.sh update   HELPER golden/NAME          rewrite NAME.xml (review the diff!)
set -uo pipefail
cmd=$1 helper=$2 base=$3
export COFFER_VMM_ACCEL_CACHE=
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if ! "$helper" xml --spec "$base.json" --vhost-net "${GOLDEN_VHOST_NET:-no}" >"$tmp"; then
  echo "FAIL: coffer-vmm xml --spec $base.json failed"
  exit 1
fi
case $cmd in
  compare)
    if ! diff -u "$base.xml" "$tmp"; then
      echo "FAIL: generated XML differs from $base.xml (above: - expected, + generated)"
      exit 1
    fi
    echo "PASS: $base.xml" ;;
  validate)
    schemas=$4
    if [ ! -f "$schemas/domain.rng" ]; then
      echo "SKIP: libvirt schema not found at $schemas/domain.rng"
      exit 77
    fi
    command -v xmllint >/dev/null || { echo "SKIP: xmllint missing (libxml2-utils)"; exit 77; }
    if [ "${GOLDEN_VHOST_NET:-no}" = yes ]; then
      grep -q '<driver name="vhost"' "$tmp" || { cat "$tmp"; echo "FAIL: no vhost NIC driver in $base"; exit 1; }
    fi
    xmllint --noout --relaxng "$schemas/domain.rng" "$tmp" || { cat "$tmp"; echo "FAIL: $base does not validate"; exit 1; }
    echo "PASS: $base validates against $schemas/domain.rng" ;;
  update) cp "$tmp" "$base.xml"; echo "wrote $base.xml" ;;
  *) echo "usage: $0 compare|validate|update HELPER BASE [SCHEMAS]"; exit 2 ;;
esac
