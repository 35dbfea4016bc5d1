#!/usr/bin/python3
"""A minimal CRI client that drives containerd the way the kubelet does.

Runs with Debian's /usr/bin/python3 (python3-grpcio, python3-grpc-tools);
the python3 first on PATH is a separate build without them. The stubs are
generated from cri.proto (next to this file) into a temporary directory on
import, never committed.

Library use:
    sys.path.insert(0, HARNESS_DIR); import cri
    c = cri.Client("/path/containerd.sock")
    pod = c.run_pod("p1", handler="coffer")          # host network
    ctr = c.create_container(pod, "c1", "localhost/busybox:latest",
                             ["sleep", "1000"])
    c.start_container(ctr)
    out = c.exec_sync(ctr, ["echo", "hi"])           # .stdout .stderr .exit_code
    c.stop_pod(pod); c.remove_pod(pod)

CLI use (every command prints JSON or an id; errors go to stderr, exit 1):
    cri.py --address SOCK version
    cri.py --address SOCK run-pod NAME [--handler coffer] [--annotation K=V]...
    cri.py --address SOCK create POD NAME IMAGE [--annotation K=V]... -- CMD...
    cri.py --address SOCK start|stop|rm|status CONTAINER
    cri.py --address SOCK exec CONTAINER [--timeout S] -- CMD...
    cri.py --address SOCK ps [--pod POD]
    cri.py --address SOCK pods
    cri.py --address SOCK stop-pod|rm-pod|pod-status POD
    cri.py --address SOCK pull IMAGE [--pod POD]      (prints the image ref)
    cri.py --address SOCK image-status|rmi IMAGE
"""

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import uuid

import grpc
from google.protobuf import json_format
from grpc_tools import protoc


def _generate_stubs():
    here = os.path.dirname(os.path.abspath(__file__))
    out = tempfile.mkdtemp(prefix="coffer-cri-")
    atexit.register(shutil.rmtree, out, True)
    # protoc needs its own include dir for nothing here: cri.proto imports none.
    rc = protoc.main(["protoc", "-I", here, "--python_out=" + out,
                      "--grpc_python_out=" + out, os.path.join(here, "cri.proto")])
    if rc != 0:
        raise RuntimeError("protoc failed on %s/cri.proto (rc %d)" % (here, rc))
    sys.path.insert(0, out)
    import cri_pb2
    import cri_pb2_grpc
    sys.path.remove(out)
    return cri_pb2, cri_pb2_grpc


pb, pb_grpc = _generate_stubs()

HOST_NETWORK = pb.NamespaceOption(network=pb.NODE, pid=pb.CONTAINER, ipc=pb.POD)


class Client:
    """One connection to a CRI runtime service at a unix socket path."""

    def __init__(self, address, timeout=60.0):
        target = address if address.startswith("unix:") else "unix://" + address
        self.channel = grpc.insecure_channel(target)
        self.rt = pb_grpc.RuntimeServiceStub(self.channel)
        self.img = pb_grpc.ImageServiceStub(self.channel)
        self.timeout = timeout
        # Pod configs by id: CreateContainer repeats the pod's config.
        self.pod_configs = {}

    def close(self):
        self.channel.close()

    def version(self):
        return self.rt.Version(pb.VersionRequest(version="v1"), timeout=self.timeout)

    def pod_config(self, name, namespace="default", uid=None, annotations=None,
                   labels=None, log_directory="", dns_servers=None, dns_searches=None):
        """A host-network pod config, as the kubelet builds for hostNetwork pods."""
        dns = None
        if dns_servers or dns_searches:
            dns = pb.DNSConfig(servers=dns_servers or [], searches=dns_searches or [])
        return pb.PodSandboxConfig(dns_config=dns,
            metadata=pb.PodSandboxMetadata(name=name, namespace=namespace,
                                           uid=uid or str(uuid.uuid4()), attempt=0),
            log_directory=log_directory,
            labels=labels or {},
            annotations=annotations or {},
            linux=pb.LinuxPodSandboxConfig(
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=HOST_NETWORK)))

    def run_pod(self, name, handler="coffer", **config):
        """RunPodSandbox; returns the pod id. handler "" is containerd's default."""
        cfg = self.pod_config(name, **config)
        resp = self.rt.RunPodSandbox(
            pb.RunPodSandboxRequest(config=cfg, runtime_handler=handler),
            timeout=self.timeout)
        self.pod_configs[resp.pod_sandbox_id] = cfg
        return resp.pod_sandbox_id

    def _config_of(self, pod_id):
        """The pod's config: remembered, or rebuilt from its status (CLI use)."""
        if pod_id in self.pod_configs:
            return self.pod_configs[pod_id]
        st = self.pod_status(pod_id).status
        cfg = pb.PodSandboxConfig(
            metadata=st.metadata, labels=dict(st.labels),
            annotations=dict(st.annotations),
            linux=pb.LinuxPodSandboxConfig(
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=HOST_NETWORK)))
        self.pod_configs[pod_id] = cfg
        return cfg

    def pod_status(self, pod_id, verbose=False):
        return self.rt.PodSandboxStatus(
            pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=verbose),
            timeout=self.timeout)

    def list_pods(self):
        return self.rt.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=self.timeout).items

    def stop_pod(self, pod_id):
        self.rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_id),
                               timeout=self.timeout)

    def remove_pod(self, pod_id):
        self.rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id),
                                 timeout=self.timeout)
        self.pod_configs.pop(pod_id, None)

    def create_container(self, pod_id, name, image, command=None, args=None,
                         annotations=None, labels=None, envs=None, tty=False,
                         stdin=False, log_path="", working_dir="", mounts=None):
        """CreateContainer in pod_id; returns the container id. mounts:
        (host_path, container_path, readonly, propagation) tuples."""
        cfg = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name, attempt=0),
            image=pb.ImageSpec(image=image),
            command=command or [], args=args or [], working_dir=working_dir,
            envs=[pb.KeyValue(key=k, value=v) for k, v in (envs or {}).items()],
            labels=labels or {}, annotations=annotations or {},
            log_path=log_path, tty=tty, stdin=stdin,
            mounts=[pb.Mount(host_path=h, container_path=c, readonly=ro, propagation=pr)
                    for h, c, ro, pr in (mounts or [])],
            linux=pb.LinuxContainerConfig(
                security_context=pb.LinuxContainerSecurityContext(
                    namespace_options=HOST_NETWORK)))
        resp = self.rt.CreateContainer(
            pb.CreateContainerRequest(pod_sandbox_id=pod_id, config=cfg,
                                      sandbox_config=self._config_of(pod_id)),
            timeout=self.timeout)
        return resp.container_id

    def start_container(self, ctr_id):
        self.rt.StartContainer(pb.StartContainerRequest(container_id=ctr_id),
                               timeout=self.timeout)

    def stop_container(self, ctr_id, timeout=10):
        self.rt.StopContainer(pb.StopContainerRequest(container_id=ctr_id, timeout=timeout),
                              timeout=self.timeout + timeout)

    def remove_container(self, ctr_id):
        self.rt.RemoveContainer(pb.RemoveContainerRequest(container_id=ctr_id),
                                timeout=self.timeout)

    def container_status(self, ctr_id, verbose=False):
        return self.rt.ContainerStatus(
            pb.ContainerStatusRequest(container_id=ctr_id, verbose=verbose),
            timeout=self.timeout)

    def list_containers(self, pod_id=""):
        return self.rt.ListContainers(
            pb.ListContainersRequest(filter=pb.ContainerFilter(pod_sandbox_id=pod_id)),
            timeout=self.timeout).containers

    def update_resources(self, ctr_id, memory_limit=0, cpu_shares=0):
        """UpdateContainerResources with a memory limit and cpu shares."""
        self.rt.UpdateContainerResources(
            pb.UpdateContainerResourcesRequest(
                container_id=ctr_id,
                linux=pb.LinuxContainerResources(memory_limit_in_bytes=memory_limit,
                                                 cpu_shares=cpu_shares)),
            timeout=self.timeout)

    def exec_sync(self, ctr_id, cmd, timeout=30):
        """ExecSync; returns the response (.stdout, .stderr bytes, .exit_code)."""
        return self.rt.ExecSync(
            pb.ExecSyncRequest(container_id=ctr_id, cmd=cmd, timeout=timeout),
            timeout=self.timeout + timeout)

    def pull_image(self, image, pod_id=None):
        """PullImage (with the pod's config, as the kubelet sends it); returns the image ref."""
        cfg = self._config_of(pod_id) if pod_id else None
        return self.img.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=image),
                                                      sandbox_config=cfg),
                                  timeout=self.timeout).image_ref

    def image_status(self, image):
        """ImageStatus; .image is empty (id "") when the image is not present."""
        return self.img.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=image)),
                                    timeout=self.timeout)

    def remove_image(self, image):
        self.img.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image=image)),
                             timeout=self.timeout)


def _kv(items):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit("cri.py: expected KEY=VALUE, got %r" % item)
        k, v = item.split("=", 1)
        out[k] = v
    return out


_PROPAGATION = {"private": 0, "host-to-container": 1, "bidirectional": 2}


def _mount(spec):
    host, ctr, *flags = spec.split(":")
    return (host, ctr, "ro" in flags,
            max([_PROPAGATION.get(f, 0) for f in flags] or [0]))


def _print(msg):
    print(json_format.MessageToJson(msg, preserving_proto_field_name=True))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="cri.py", description="minimal CRI client")
    ap.add_argument("--address", default=os.environ.get("CRI_ADDRESS"),
                    help="containerd's grpc socket (default $CRI_ADDRESS)")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-call deadline, s")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("version")
    p = sub.add_parser("run-pod")
    p.add_argument("name")
    p.add_argument("--handler", default="coffer")
    p.add_argument("--namespace", default="default")
    p.add_argument("--annotation", action="append")
    p.add_argument("--label", action="append")
    p.add_argument("--log-dir", default="")
    p.add_argument("--dns", action="append", default=[], help="a nameserver for the pod")
    p.add_argument("--dns-search", action="append", default=[])
    p = sub.add_parser("create")
    p.add_argument("pod")
    p.add_argument("name")
    p.add_argument("image")
    p.add_argument("--annotation", action="append")
    p.add_argument("--tty", action="store_true")
    p.add_argument("--log-path", default="")
    p.add_argument("--mount", action="append", default=[],
                   help="HOST:CONTAINER[:ro][:private|:host-to-container|:bidirectional]")
    p.add_argument("command", nargs="*")
    for name in ("start", "rm", "status"):
        sub.add_parser(name).add_argument("container")
    p = sub.add_parser("stop")
    p.add_argument("container")
    p.add_argument("--grace", type=int, default=10)
    p = sub.add_parser("update")
    p.add_argument("container")
    p.add_argument("--memory-limit", type=int, default=0)
    p.add_argument("--cpu-shares", type=int, default=0)
    p = sub.add_parser("exec")
    p.add_argument("container")
    p.add_argument("--exec-timeout", type=int, default=30)
    p.add_argument("command", nargs="+")
    p = sub.add_parser("ps")
    p.add_argument("--pod", default="")
    sub.add_parser("pods")
    for name in ("stop-pod", "rm-pod", "pod-status"):
        sub.add_parser(name).add_argument("pod")
    p = sub.add_parser("pull")
    p.add_argument("image")
    p.add_argument("--pod", default="")
    for name in ("image-status", "rmi"):
        sub.add_parser(name).add_argument("image")
    a = ap.parse_args(argv)
    if not a.address:
        ap.error("--address (or $CRI_ADDRESS) is required")

    c = Client(a.address, timeout=a.timeout)
    try:
        if a.cmd == "version":
            _print(c.version())
        elif a.cmd == "run-pod":
            print(c.run_pod(a.name, handler=a.handler, namespace=a.namespace,
                            annotations=_kv(a.annotation), labels=_kv(a.label),
                            log_directory=a.log_dir, dns_servers=a.dns,
                            dns_searches=a.dns_search))
        elif a.cmd == "create":
            print(c.create_container(a.pod, a.name, a.image, command=a.command,
                                     annotations=_kv(a.annotation), tty=a.tty,
                                     log_path=a.log_path,
                                     mounts=[_mount(m) for m in a.mount]))
        elif a.cmd == "start":
            c.start_container(a.container)
        elif a.cmd == "stop":
            c.stop_container(a.container, timeout=a.grace)
        elif a.cmd == "rm":
            c.remove_container(a.container)
        elif a.cmd == "status":
            _print(c.container_status(a.container))
        elif a.cmd == "update":
            c.update_resources(a.container, memory_limit=a.memory_limit,
                               cpu_shares=a.cpu_shares)
        elif a.cmd == "exec":
            r = c.exec_sync(a.container, a.command, timeout=a.exec_timeout)
            sys.stdout.buffer.write(r.stdout)
            sys.stderr.buffer.write(r.stderr)
            return r.exit_code
        elif a.cmd == "ps":
            for ctr in c.list_containers(a.pod):
                _print(ctr)
        elif a.cmd == "pods":
            for pod in c.list_pods():
                _print(pod)
        elif a.cmd == "stop-pod":
            c.stop_pod(a.pod)
        elif a.cmd == "rm-pod":
            c.remove_pod(a.pod)
        elif a.cmd == "pod-status":
            _print(c.pod_status(a.pod))
        elif a.cmd == "pull":
            print(c.pull_image(a.image, pod_id=a.pod or None))
        elif a.cmd == "image-status":
            _print(c.image_status(a.image))
        elif a.cmd == "rmi":
            c.remove_image(a.image)
    except grpc.RpcError as e:
        print("cri.py: %s: %s: %s" % (a.cmd, e.code().name, e.details()), file=sys.stderr)
        return 1
    finally:
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
