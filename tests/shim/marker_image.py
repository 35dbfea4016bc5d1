#!/usr/bin/env python3
"""One OCI image (a layout at OUTDIR, ref name "img"): a static busybox as
/bin/sh plus a layer holding /coffer-marker with TEXT, the bytes a test looks
for (in the container, and nowhere on the host when the guest pulled it).

    marker_image.py OUTDIR BUSYBOX TEXT [FILLER_BYTES]

FILLER_BYTES (benchmarks): a third layer with /filler of that many random
(incompressible) bytes."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "critest"))
from images import Layout, layer  # noqa: E402


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: marker_image.py OUTDIR BUSYBOX TEXT [FILLER_BYTES]")
    out, busybox, text = sys.argv[1:4]
    filler = int(sys.argv[4]) if len(sys.argv) == 5 else 0
    with open(busybox, "rb") as f:
        bb = f.read()
    lay = Layout(out)
    base_gz, base_diff = layer([("bin", 0o755, None), ("bin/busybox", 0o755, bb),
                                ("bin/sh", 0o777, "busybox"), ("tmp", 0o1777, None)])
    mgz, mdiff = layer([("coffer-marker", 0o644, (text + "\n").encode())])
    mt = "application/vnd.oci.image.layer.v1.tar+gzip"
    layers = [lay.blob(base_gz, mt), lay.blob(mgz, mt)]
    diffs = [base_diff, mdiff]
    if filler:
        fgz, fdiff = layer([("filler", 0o644, os.urandom(filler))])
        layers.append(lay.blob(fgz, mt))
        diffs.append(fdiff)
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": diffs}}
    cfg = lay.blob(json.dumps(config, sort_keys=True).encode(),
                   "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": layers}
    m = lay.blob(json.dumps(manifest, sort_keys=True).encode(),
                 "application/vnd.oci.image.manifest.v1+json")
    m["annotations"] = {"org.opencontainers.image.ref.name": "img"}
    lay.manifests.append(m)
    lay.finish()


if __name__ == "__main__":
    main()
