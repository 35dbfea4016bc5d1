#!/usr/bin/python3
"""Secrets and tokens end to end in a VM (driven by e2e_cri_secrets.sh): a
CRI pod on the coffer handler whose init-data names a coffer-kbs on the host
bridge. Container "show" prints secret one (delivery); container "keep"
holds secret two, prints only its sha256 and its tokens, and stays up while
the shell reads the shim's and coffer-vmm's memory. Prints KEY=VALUE lines.
    e2e_cri_secrets.py HARNESS_DIR SOCK INIT_B64 LIFETIME LOG_DIR"""
import sys
import time

sys.path.insert(0, sys.argv[1])
import cri  # noqa: E402

cri.HOST_NETWORK = cri.pb.NamespaceOption(network=cri.pb.POD, pid=cri.pb.CONTAINER,
                                          ipc=cri.pb.POD)
c = cri.Client(sys.argv[2], timeout=300)
INIT, LIFETIME, LOGDIR = sys.argv[3], int(sys.argv[4]), sys.argv[5]
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
                          "sleep %d; echo TOKEN2=$(cat /run/coffer/attestation-token); sleep 600" % (LIFETIME + 2)],
                          annotations={"io.coffer.secret.two": "kbs:///default/key/two",
                                       "io.coffer.token": "true"}, log_path="keep.log")
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
