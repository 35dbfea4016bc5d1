#!/usr/bin/env bash
# Socket paths do not depend on state_dir's length: with a 150-character
# state_dir and CRI-length (64 hex digit) ids, a container runs (the agent's
# socket lives in /run/coffer/s/<hash>, not under the pod's state dir) and
# nothing is left afterwards, not even the socket directory.
. "$(dirname "$0")/lib.sh"
STATE=/run/cfsh-${T##*.}/$(printf 'd%.0s' $(seq 1 130))
[ ${#STATE} -ge 140 ] || fail "state dir too short for the test: ${#STATE}"
cat >"$CONFIG" <<J
{"backend": "process", "agent_path": "$AGENT_BIN", "state_dir": "$STATE",
 "log_level": "debug", "agent_timeout_ms": 10000}
J
start_containerd
id=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
[ ${#id} = 64 ] || fail "id length ${#id}"
pod_dir=$STATE/$CONTAINERD_NAMESPACE/$id
log "state dir ${#STATE} chars, id ${#id} chars: the agent socket would be $((${#pod_dir} + 11)) chars under it"
c run -d "${RT[@]}" $IMG "$id" sleep 7795
out=$(c task exec --exec-id e1 "$id" echo hello) || fail "exec failed: $out"
[ "$out" = hello ] || fail "exec printed '$out'"
sock_dir=/run/coffer/s/$(printf '%s' "$pod_dir" | sha256sum | cut -c1-32)
[ -S "$sock_dir/agent.sock" ] || fail "no agent socket in $sock_dir ($(ls -la "$sock_dir" 2>&1))"
[ -d "$pod_dir" ] || fail "no pod state dir $pod_dir"
c task kill -s KILL "$id"
wait_for 20 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"$id\" {print \$3}')\" = STOPPED ]" || fail "not stopped: $(ctr task ls)"
c task rm "$id" >/dev/null
c c rm "$id"
wait_for 15 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after rm"
[ ! -e "$sock_dir" ] || fail "socket dir $sock_dir left: $(ls -la "$sock_dir")"
echo PASS
