#!/usr/bin/python3
"""CRI checks on a containerd the installer configured.

  cri_check.py HARNESS_DIR SOCKET handlers H1,H2,...   Status(verbose) lists
      each handler with coffer's runtime type, runtime_path and ConfigPath
      (prints them as JSON); exit 1 if one is missing
  cri_check.py HARNESS_DIR SOCKET no-handlers H1,...   none of them is listed
  cri_check.py HARNESS_DIR SOCKET pod HANDLER          a pod with that
      handler runs a busybox container that answers ExecSync, then is
      stopped and removed

Status is not in the harness's CRI subset: it is sent raw (field numbers as
in cri-api: StatusRequest.verbose = 1; StatusResponse.info = 2, a
map<string,string>) and the reply decoded here."""
import json
import sys

sys.path.insert(0, sys.argv[1])
import cri  # noqa: E402


def varint(b, i):
    shift = v = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """(field number, bytes or int) of one protobuf message."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        else:
            raise ValueError("wire type %d" % wt)
        yield num, v


def status_info(c):
    call = c.channel.unary_unary("/runtime.v1.RuntimeService/Status",
                                 request_serializer=lambda x: x,
                                 response_deserializer=lambda x: x)
    resp = call(b"\x08\x01", timeout=30)
    info = {}
    for num, v in fields(resp):
        if num == 2:
            kv = dict(fields(v))
            info[kv.get(1, b"").decode()] = kv.get(2, b"").decode()
    return info


def runtimes(c):
    cfg = json.loads(status_info(c)["config"])
    # 1.6: config.containerd.runtimes; 2.x: the same under the runtime plugin's config
    return (cfg.get("containerd") or {}).get("runtimes") or {}


def main():
    c = cri.Client(sys.argv[2], timeout=60)
    what, arg = sys.argv[3], sys.argv[4]
    if what in ("handlers", "no-handlers"):
        rts = runtimes(c)
        for h in arg.split(","):
            r = rts.get(h)
            if what == "no-handlers":
                if r is not None:
                    sys.exit("FAIL: CRI Status still lists handler %s" % h)
                continue
            if r is None:
                sys.exit("FAIL: CRI Status lacks handler %s (has %s)" % (h, sorted(rts)))
            opts = r.get("options") or {}
            got = {"runtimeType": r.get("runtimeType"), "runtimePath": r.get("runtimePath"),
                   "ConfigPath": opts.get("ConfigPath")}
            print("handler %s: %s" % (h, json.dumps(got, sort_keys=True)))
            shim = "/opt/coffer/bin/containerd-shim-coffer-v2"
            by_name = got["runtimeType"] == "io.containerd.coffer.v2" and \
                (got["runtimePath"] or "").endswith(shim)
            by_path = (got["runtimeType"] or "").endswith(shim)  # containerd 1.6
            if not (by_name or by_path) or not got["ConfigPath"]:
                sys.exit("FAIL: handler %s is incomplete: %s" % (h, got))
        return
    if what == "pod":
        pod = c.run_pod("deploy-check", handler=arg)
        ctr = c.create_container(pod, "c1", "localhost/busybox:latest", ["sleep", "1000"])
        c.start_container(ctr)
        r = c.exec_sync(ctr, ["sh", "-c", "echo from-$0", "coffer-pod"])
        if r.exit_code != 0 or r.stdout != b"from-coffer-pod\n":
            sys.exit("FAIL: ExecSync in the %s pod gave %d %r %r" % (arg, r.exit_code, r.stdout,
                                                                     r.stderr))
        print("pod %s (handler %s): ExecSync answered %r" % (pod[:12], arg, r.stdout))
        c.stop_pod(pod)
        c.remove_pod(pod)
        return
    sys.exit("usage: see the docstring")


main()
