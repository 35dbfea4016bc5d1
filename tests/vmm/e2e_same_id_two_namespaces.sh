#!/usr/bin/env bash
# Pod ids are unique per containerd namespace only. A pod started in another
# namespace with the id of a running pod must fail cleanly, and its clean-up
# (containerd's delete) must leave the first pod's VM running and usable.
. "$(dirname "$0")/e2e_lib.sh"

c run -d "${RT[@]}" $IMG t1 sleep 7771
first=$(our_domains)
[ "$(echo $first | wc -w)" = 1 ] || fail "expected one domain, got '$first'"
qemu=$(pgrep -f "guest=$first," | head -1)
[ -n "$qemu" ] || fail "no QEMU for $first"

log "the same id in namespace k8s.io (the harness imports the images there too)"
rc=0
CONTAINERD_NAMESPACE=k8s.io c run --rm "${RT[@]}" $IMG t1 echo second >"$T/second.out" 2>&1 || rc=$?
[ $rc != 0 ] || fail "a second VM named $first started; the test assumed names collide: $(cat "$T/second.out")"
grep -q "already exists" "$T/second.out" || fail "unclear error for the colliding pod: $(cat "$T/second.out")"
CONTAINERD_NAMESPACE=k8s.io c c rm t1 >/dev/null 2>&1 || true

log "the first pod's VM survived the other pod's clean-up"
kill -0 "$qemu" 2>/dev/null || fail "the first pod's QEMU ($qemu) was killed by the other namespace's clean-up"
[ "$(our_domains)" = "$first" ] || fail "domain $first is gone: '$(our_domains)'"
out=$(c task exec --exec-id e1 t1 echo still-here) || fail "exec into the first pod failed"
[ "$out" = still-here ] || fail "exec printed '$out'"

c task kill -s KILL t1
wait_for 30 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t1\" {print \$3}')\" != RUNNING ]" || true
c task rm t1 >/dev/null 2>&1 || true
c c rm t1
wait_for 30 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after both pods"
echo PASS
