#!/usr/bin/env bash
# kill -9 of a pod's QEMU: the pod's task is reported exited (ctr task ls
# shows it STOPPED), exec works in the VM before that, and deleting the task
# and container leaves no domain, process, file or mount behind.
. "$(dirname "$0")/e2e_lib.sh"

c run -d "${RT[@]}" $IMG t1 sleep 7771
log "exec in the VM"
out=$(c task exec --exec-id e1 t1 uname -r)
[ "$out" = "$GUEST_RELEASE" ] || fail "exec uname -r printed '$out', want $GUEST_RELEASE"
dom=$(our_domains)
[ "$(echo $dom | wc -w)" = 1 ] || fail "expected one domain, got '$dom'"
pid=$("$VMM" list --json | tr -d ' \n' | grep -o "\"name\":\"$dom\",\"state\":\"[a-z-]*\",\"pid\":[0-9]*" | sed -E 's/.*"pid":([0-9]+)/\1/')
[ -n "$pid" ] && kill -0 "$pid" || fail "no QEMU pid for $dom"
log "kill -9 QEMU ($pid)"
kill -KILL "$pid"
wait_for 30 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t1\" {print \$3}')\" = STOPPED ]" || fail "t1 not STOPPED after QEMU died: $(ctr task ls)"
log "task reported stopped: $(ctr task ls | awk '$1 == "t1"')"
c task rm t1 >/dev/null 2>&1 || c task rm -f t1 >/dev/null 2>&1 || true
c c rm t1
wait_for 30 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after kill -9 and delete"
echo PASS
