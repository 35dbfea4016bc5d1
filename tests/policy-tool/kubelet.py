#!/usr/bin/python3
"""What kubelet sends containerd's CRI for deployment.yaml's pod (the
translation is written out here: tests/policy-tool has no kubelet): the pod
with its init-data annotation, the container with its command resolved
($(GREETING_PREFIX) expanded), its env (valueFrom resolved), the configMap
volume and termination log at kubelet's paths, and its security context.

usage: kubelet.py HARNESS_DIR CRI_SOCK ANNOTATION_FILE KUBELET_ROOT [VARIANT]
VARIANT (a host that changes the request): command | env | cap | ok (default);
novol: without the configMap volume and termination log (the process backend hands binds over
as guest paths, which the policy's guest-paths rule refuses unless shared); the
changed variants leave them out too
HANDLER (env): the CRI runtime handler (default coffer; "" is runc).
Prints "started POD CTR"; or "refused: MESSAGE" when the start fails.
"""
import os
import sys
import uuid

sys.path.insert(0, sys.argv[1])
import cri  # noqa: E402

pb = cri.pb
sock, ann_file, kroot = sys.argv[2], sys.argv[3], sys.argv[4]
variant = sys.argv[5] if len(sys.argv) > 5 else "ok"
c = cri.Client(sock)
uid = str(uuid.uuid4())
vol = os.path.join(kroot, "pods", uid, "volumes", "kubernetes.io~configmap", "config")
os.makedirs(vol)
with open(os.path.join(vol, "greeting"), "w") as f:
    f.write("hello")
tdir = os.path.join(kroot, "pods", uid, "containers", "web")
os.makedirs(tdir)
tlog = os.path.join(tdir, "0c1d2e3f")
open(tlog, "w").close()

ann = open(ann_file).read().strip()
pod = c.run_pod("web-7d4f9-abcde", handler=os.environ.get("HANDLER", "coffer"), uid=uid,
                annotations={"io.coffer.init-data": ann})
env = {"GREETING_PREFIX": "web:", "GREETING": "hello", "POD_NAME": "web-7d4f9-abcde"}
command, args = ["sh", "-c"], ["echo web: started; exec sleep 3600"]
caps = pb.Capability(drop_capabilities=["ALL"], add_capabilities=["NET_BIND_SERVICE"])
if variant == "command":
    args = ["nc -lp 4444"]
elif variant == "env":
    env["LD_PRELOAD"] = "/tmp/x.so"
elif variant == "cap":
    caps.add_capabilities.append("SYS_ADMIN")
mounts = [pb.Mount(host_path=vol, container_path="/etc/web", readonly=True),
          pb.Mount(host_path=tlog, container_path="/dev/termination-log")]
if variant != "ok":
    mounts = []
cfg = pb.ContainerConfig(
    metadata=pb.ContainerMetadata(name="web", attempt=0),
    image=pb.ImageSpec(image="localhost/busybox:latest"),
    command=command, args=args, working_dir="/tmp",
    envs=[pb.KeyValue(key=k, value=v) for k, v in env.items()],
    mounts=mounts,
    linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
        namespace_options=cri.HOST_NETWORK, capabilities=caps,
        run_as_user=pb.Int64Value(value=1000), run_as_group=pb.Int64Value(value=1000),
        no_new_privs=True)))
ctr = c.rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=pod, config=cfg,
                                                     sandbox_config=c._config_of(pod)),
                           timeout=c.timeout).container_id
try:
    c.start_container(ctr)
except Exception as e:  # grpc.RpcError: the agent's refusal through the shim
    print("refused: %s" % getattr(e, "details", lambda: str(e))())
    sys.exit(0)
print("started %s %s" % (pod, ctr))
for probe in (["cat", "/etc/hostname"], ["sh", "-c", "id"]):
    try:
        r = c.exec_sync(ctr, probe)
        print("exec %s: exit %d" % (" ".join(probe), r.exit_code))
    except Exception as e:
        print("exec %s refused: %s" % (" ".join(probe), getattr(e, "details", lambda: str(e))()))
