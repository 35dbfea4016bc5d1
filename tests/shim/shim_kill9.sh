#!/usr/bin/env bash
# kill -9 of the shim daemon and its agent: containerd runs `delete`, which
# stops the container, removes state, mounts, the socket and
# the pod's cgroups (/coffer/<pod> in every hierarchy).
. "$(dirname "$0")/lib.sh"
start_containerd
ID=k9-$$   # names the pod and its cgroup: unique, so no other run's dir counts

c run -d "${RT[@]}" $IMG $ID sleep 7771
shim=$(shim_pids)
[ "$(echo $shim | wc -w)" = 1 ] || fail "expected one shim, got '$shim'"
sock=$(cat "$CONTAINERD_STATE/io.containerd.runtime.v2.task/$CONTAINERD_NAMESPACE/$ID/address")
sock=${sock#unix://}
[ -S "$sock" ] || fail "no shim socket at $sock"
ctr_pids() { for p in /proc/[0-9]*; do tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q '^sleep 7771' && echo "${p#/proc/}"; done; return 0; }
[ -n "$(ctr_pids)" ] || fail "the container process is not running"
cg=$(awk -F: '$2 == "memory" {m=$3} $1 == "0" {u=$3} END {print (m != "" ? m : u)}' /proc/$(ctr_pids | head -1)/cgroup)
pod_cg=${cg%/*}
case $pod_cg in /coffer/?*) ;; *) fail "container cgroup $cg is not under /coffer/<pod>" ;; esac
pod_cgroups() { for d in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do d=${d%/}; [ -d "$d$pod_cg" ] && echo "$d$pod_cg"; done; return 0; }
[ -n "$(pod_cgroups)" ] || fail "no cgroup dir $pod_cg found"

agent=$(agent_pids)
[ "$(echo $agent | wc -w)" = 1 ] || fail "expected one agent, got '$agent'"
log "kill -9 the shim and its agent (nothing gets to clean up but delete)"
kill -KILL $shim $agent
wait_for 15 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"$ID\" {print \$3}')\" != RUNNING ]" || fail "$ID still RUNNING: $(ctr task ls)"
ctr task rm $ID >/dev/null 2>&1 || true
c c rm $ID

log "nothing left"
wait_for 10 bash -c "[ ! -e '$sock' ]" || fail "shim socket $sock left behind"
wait_for 10 bash -c "[ -z \"\$(for p in /proc/[0-9]*; do tr '\\\\0' ' ' 2>/dev/null <\$p/cmdline | grep -q '^sleep 7771' && echo x; done)\" ]" || fail "container process left: $(ctr_pids)"
wait_for 10 assert_no_leftovers "after delete" >/dev/null 2>&1 || assert_no_leftovers "after delete"
left=$(pod_cgroups)
[ -z "$left" ] || fail "pod cgroup dirs left after delete: $left"

log "delete is safe to run twice"
(cd / && "$SHIM_BIN" -namespace "$CONTAINERD_NAMESPACE" -address "$CONTAINERD_ADDRESS" \
   -id $ID -bundle "$T/gone" delete >"$T/del.out") || fail "second delete failed"
[ -s "$T/del.out" ] || fail "delete printed no DeleteResponse"
echo PASS
