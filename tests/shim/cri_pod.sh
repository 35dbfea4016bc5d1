#!/usr/bin/env bash
# CRI (RunPodSandbox, two containers, ExecSync, ContainerStatus, Stop/Remove)
# through the `coffer` runtime handler: one shim process serves the pod; when
# a pod's agent dies, every container of the pod is reported exited.
. "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null || skip "python3-grpcio / python3-grpc-tools missing"
start_containerd
timeout 90 /usr/bin/python3 "$(dirname "$0")/cri_pod.py" "$H" "$SHIM_BIN" "$STATE"
wait_for 10 assert_no_leftovers "after RemovePodSandbox" >/dev/null 2>&1 || assert_no_leftovers "after RemovePodSandbox"
echo PASS
