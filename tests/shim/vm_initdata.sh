#!/usr/bin/env bash
# A plain VM (real libvirtd/QEMU, tests/vmm/e2e_lib.sh) with the sample
# attester: the shim binds the init-data digest on the guest's command line
# (coffer.sample_init_data=), the guest agent recomputes it from the bytes
# CreateSandbox carries and starts the pod only when they match. The
# test_hostile_init_data hook simulates a hostile host handing the guest
# other bytes than it hashed: the pod must not start, the error names both
# digests, and nothing is left behind.
. "$1/tests/vmm/e2e_lib.sh"

printf 'version = "0.1.0"\nalgorithm = "sha384"\n\n[data]\n"policy.rego" = "package agent_policy"\n' >"$T/id.toml"
sed -i "s|}\$|, \"init_data\": \"$T/id.toml\", \"sample_attestation\": true}|" "$CONFIG"

log "matching init-data: the guest verifies it and the pod runs"
out=$(c run --rm "${RT[@]}" $IMG vi1 echo verified-pod)
[ "$out" = verified-pod ] || fail "expected verified-pod, got '$out'"
grep 'source=guest' "$T/c/containerd.log" | grep -q 'verified against the sample binding (sha384)' ||
  fail "the guest did not log the verification"

log "hostile host: the guest gets other init-data than the digest bound -> the pod does not start"
sed -i 's|}$|, "test_hostile_init_data": true}|' "$CONFIG"
set +e
err=$(c run --rm "${RT[@]}" $IMG vi2 echo must-not-run 2>&1)
rc=$?
set -e
c c rm vi2 >/dev/null 2>&1 || true
[ $rc != 0 ] || fail "the pod started with tampered init-data: $err"
grep -q must-not-run <<<"$err" && fail "the container ran: $err"
grep -Eq 'init-data digest [0-9a-f]{96} \(sha384 of the document given\) does not match the sample binding [0-9a-f]{96}' <<<"$err" ||
  fail "the error does not name both digests: $err"
echo "ok: refused: $(grep -o 'init-data digest.*' <<<"$err" | head -1 | cut -c1-300)"
wait_for 30 assert_no_leftovers "after the refused pod" || assert_no_leftovers "after the refused pod"
echo PASS
