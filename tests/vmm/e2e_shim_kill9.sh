#!/usr/bin/env bash
# kill -9 of the pod's shim: containerd runs the shim's `delete`, whose
# backend cleanup destroys the VM; no domain, QEMU, virtiofsd, file or mount
# is left.
. "$(dirname "$0")/e2e_lib.sh"

c run -d "${RT[@]}" $IMG t1 sleep 7771
shim=$(for p in /proc/[0-9]*; do
  [ "$(readlink "$p/exe" 2>/dev/null)" = "$SHIM_BIN" ] || continue
  tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "-address $CONTAINERD_ADDRESS" && echo "${p#/proc/}"
done; true)
[ "$(echo $shim | wc -w)" = 1 ] || fail "expected one shim, got '$shim'"
[ "$(our_domains | wc -w)" = 1 ] || fail "expected one domain, got '$(our_domains)'"
log "kill -9 the shim ($shim)"
kill -KILL $shim
wait_for 30 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t1\" {print \$3}')\" != RUNNING ]" || fail "t1 still RUNNING: $(ctr task ls)"
c task rm t1 >/dev/null 2>&1 || true
c c rm t1
wait_for 30 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after the shim's kill -9 and delete"
echo PASS
