#!/usr/bin/env bash
# tests/harness/containerd.sh stop kills the instance's shims; their VMs
# (QEMU is libvirtd's child, not the shim's) must go too: stop destroys the
# coffer domains of the instance's pods (via $COFFER_VMM_HELPER).
. "$(dirname "$0")/e2e_lib.sh"

c run -d "${RT[@]}" $IMG t1 sleep 7772
[ "$(our_domains | wc -w)" = 1 ] || fail "expected one domain, got '$(our_domains)'"
log "containerd.sh stop with a running pod VM ($(our_domains))"
"$H/containerd.sh" stop "$T/c" || fail "containerd.sh stop failed"
[ "$(our_domains | wc -w)" = 0 ] || fail "domain(s) left after containerd.sh stop: $(our_domains)"
echo PASS
