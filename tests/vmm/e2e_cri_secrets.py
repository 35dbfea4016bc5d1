#!/usr/bin/python3
"""Secrets and tokens end to end in a VM (driven by e2e_cri_secrets.sh): a
CRI pod on the coffer handler whose init-data names a coffer-kbs on the host
bridge. Container "show" prints secret one (delivery); container "keep"
holds secret two, prints only its sha256 and its tokens, asks tee.sock for a
token bound to an audience and a nonce (tee_client, mounted from TC_DIR) and
stays up while the shell reads the shim's and coffer-vmm's memory. Then a
pod on the host network (no NIC: the broker through the relay, whose host
side the shell's relay_proxy.py carries) prints secret one; once the file
HOSTILE exists the proxy flips bits and a secret asked for then must fail.
Prints KEY=VALUE lines.
    e2e_cri_secrets.py HARNESS_DIR SOCK INIT_B64 LIFETIME LOG_DIR TC_DIR NONCE
                       RELAY_INIT_B64 HOSTILE"""
import sys
import time

sys.path.insert(0, sys.argv[1])
import cri  # noqa: E402

cri.HOST_NETWORK = cri.pb.NamespaceOption(network=cri.pb.POD, pid=cri.pb.CONTAINER,
                                          ipc=cri.pb.POD)
c = cri.Client(sys.argv[2], timeout=300)
INIT, LIFETIME, LOGDIR = sys.argv[3], int(sys.argv[4]), sys.argv[5]
TC_DIR, NONCE, RELAY_INIT, HOSTILE = sys.argv[6:10]
TEE = ("/opt/tc/tee_client /run/coffer/tee.sock POST /v1/token "
       "'{\"audience\": \"coffer-e2e\", \"nonces\": [\"%s\"], \"token_type\": \"OIDC\"}' | tr '\\n' ' '" % NONCE)
TEE_BAD = ("/opt/tc/tee_client /run/coffer/tee.sock POST /v1/token "
           "'{\"audience\": \"coffer-e2e\", \"nonces\": [\"short\"], \"token_type\": \"OIDC\"}' | tr '\\n' ' '")
IMG = "localhost/busybox:latest"

pod = c.run_pod("sec1", handler="coffer", annotations={"io.coffer.init-data": INIT},
                log_directory=LOGDIR)
print("POD=" + pod, flush=True)
t0 = time.time()
show = c.create_container(pod, "show", IMG, ["sh", "-c", "cat /run/coffer/secrets/one"],
                          annotations={"io.coffer.secret.one": "kbs:///default/key/one"},
                          log_path="show.log")
c.start_container(show)
print("CREATE_START_SECONDS=%.2f" % (time.time() - t0), flush=True)
for _ in range(300):
    st = c.container_status(show).status
    if st.state == cri.pb.CONTAINER_EXITED:
        break
    time.sleep(0.2)
print("SHOW_EXIT=%d" % st.exit_code, flush=True)
print("SHOW_LOG=" + st.log_path, flush=True)

keep = c.create_container(pod, "keep", IMG, ["sh", "-c",
                          "sha256sum /run/coffer/secrets/two | cut -d' ' -f1 > /tmp/h; "
                          "echo HASH=$(cat /tmp/h); echo TOKEN1=$(cat /run/coffer/attestation-token); "
                          "echo MODE=$(stat -c '%%a %%u' /run/coffer/secrets/two); "
                          "echo TEE=$(%s); echo TEEBAD=$(%s); "
                          # the second token as soon as the file changes (refresh at 0.70-0.85
                          # of the lifetime), bounded at twice the lifetime
                          "t=/run/coffer/attestation-token; a=$(cat $t); i=0; "
                          "while [ \"$(cat $t)\" = \"$a\" ] && [ $i -lt %d ]; do sleep 0.5; i=$((i+1)); done; "
                          "echo TOKEN2=$(cat $t); sleep 600"
                          % (TEE, TEE_BAD, LIFETIME * 4)],
                          annotations={"io.coffer.secret.two": "kbs:///default/key/two",
                                       "io.coffer.token": "true"}, log_path="keep.log",
                          mounts=[(TC_DIR, "/opt/tc", True, 0)])
c.start_container(keep)
print("KEEP=" + keep, flush=True)
print("KEEP_LOG=" + c.container_status(keep).status.log_path, flush=True)

try:  # containerd creates the task (and the agent the container) at StartContainer
    bad = c.create_container(pod, "denied", IMG, ["true"],
                             annotations={"io.coffer.secret.bad": "kbs:///other/key/one"})
    c.start_container(bad)
    print("DENIED=started", flush=True)
except Exception as e:  # grpc error: the broker's reason must be in it
    print("DENIED=" + str(e).replace("\n", " ")[:1500], flush=True)
print("READY=1", flush=True)
sys.stdin.readline()  # the shell reads memory and files meanwhile, then says go
c.stop_pod(pod)
c.remove_pod(pod)
print("DONE=1", flush=True)


def wait_exit(cid):
    for _ in range(600):
        st = c.container_status(cid).status
        if st.state == cri.pb.CONTAINER_EXITED:
            return st
        time.sleep(0.2)
    return st


# the host network: no NIC in the VM, the broker only through the relay
cri.HOST_NETWORK = cri.pb.NamespaceOption(network=cri.pb.NODE, pid=cri.pb.CONTAINER,
                                          ipc=cri.pb.POD)
pod = c.run_pod("sec2", handler="coffer", annotations={"io.coffer.init-data": RELAY_INIT},
                log_directory=LOGDIR)
print("RELAY_POD=" + pod, flush=True)
via = c.create_container(pod, "via", IMG, ["sh", "-c", "cat /run/coffer/secrets/one"],
                         annotations={"io.coffer.secret.one": "kbs:///default/key/one"},
                         log_path="via.log")
try:
    c.start_container(via)
    st = wait_exit(via)
    print("VIA_EXIT=%d" % st.exit_code, flush=True)
    print("VIA_LOG=" + st.log_path, flush=True)
except Exception as e:
    print("VIA_EXIT=error " + str(e).replace("\n", " ")[:1500], flush=True)
open(HOSTILE, "w").close()  # from now on the host tampers with the relayed records
try:
    bad = c.create_container(pod, "tampered", IMG, ["sh", "-c", "cat /run/coffer/secrets/three"],
                             annotations={"io.coffer.secret.three": "kbs:///default/key/three"},
                             log_path="tampered.log")
    c.start_container(bad)
    st = wait_exit(bad)
    print("TAMPERED=started exit %d log %s" % (st.exit_code, st.log_path), flush=True)
except Exception as e:
    print("TAMPERED=" + str(e).replace("\n", " ")[:1500], flush=True)
c.stop_pod(pod)
c.remove_pod(pod)
print("RELAY_DONE=1", flush=True)
