#!/usr/bin/env bash
# policy.sh in a plain libvirt VM (real QEMU under TCG): the pod's init-data
# policy judged by the agent as the guest's PID 1.
POLICY_VM=1 . "$(dirname "$0")/policy.sh"
