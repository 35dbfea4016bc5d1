#!/usr/bin/env bash
# 50 sequential CRI pods leave no growing residue (processes, mounts, fds,
# sockets, state directories).
. "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null || skip "python3-grpcio / python3-grpc-tools missing"
start_containerd
timeout 240 /usr/bin/python3 "$(dirname "$0")/cri_many_pods.py" "$H" "$STATE" "${PODS:-50}"
assert_no_leftovers "after the pods"
echo PASS
