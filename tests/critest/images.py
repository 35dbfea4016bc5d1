#!/usr/bin/env python3
"""Writes the images critest's image-pull specs pull, as an OCI image layout.

    images.py OUTDIR BUSYBOX     OUTDIR/oci (layout) and OUTDIR/refs (one line each:
                                 <ref name in the layout> <repository:tag to push>)

Byte-for-byte deterministic (fixed mtimes, owners, gzip headers): the same
inputs give the same digests, so the registry content can be cached and image
ids stay stable between runs. Every image is a static busybox as /bin/sh
(critest starts a container from test-image-tag with the image's own command)
plus a one-file layer naming the image, so images that must differ do, and
none collides with an image the harness preloads (removing one by id must not
remove another). Repositories carry critest's paths without the registry
host: containerd maps gcr.io, registry.k8s.io and k8s.gcr.io to the local
registry, and `-registry-prefix HOST:PORT` rewrites names to the same paths.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

STAGING = "k8s-staging-cri-tools/"

# (marker, [repository:tag...], image user): one image per marker.
IMAGES = [
    ("test-image-tag", [STAGING + "test-image-tag:test", STAGING + "test-image-tag:all"], ""),
    ("test-image-latest", [STAGING + "test-image-latest:latest"], ""),
    # critest pulls this one by a fixed digest of gcr.io's multi-arch index, which
    # no local build can reproduce; served by tag so the failure names the digest
    ("test-image-digest", [STAGING + "test-image-digest:latest"], ""),
    ("test-image-1", [STAGING + "test-image-1:latest"], ""),
    ("test-image-2", [STAGING + "test-image-2:latest"], ""),
    ("test-image-3", [STAGING + "test-image-3:latest"], ""),
    ("same-image", [STAGING + "test-image-tags:1", STAGING + "test-image-tags:2",
                    STAGING + "test-image-tags:3"], ""),
    ("test-image-user-uid", [STAGING + "test-image-user-uid:latest"], "1002"),
    ("test-image-user-username", [STAGING + "test-image-user-username:latest"], "www-data"),
    ("test-image-user-uid-group", [STAGING + "test-image-user-uid-group:latest"], "1003:1004"),
    ("test-image-user-username-group", [STAGING + "test-image-user-username-group:latest"],
     "www-data:1004"),
    # registry.k8s.io/pause:3.9 and k8s.gcr.io/pause:3.9: one image from two registries
    ("pause-3.9", ["pause:3.9"], ""),
]

MTIME = 1000000000  # fixed: digests must not depend on when the layout was written


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.manifests = []

    def blob(self, data, media_type):
        d = sha(data)
        with open(os.path.join(self.root, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": d, "size": len(data)}

    def finish(self):
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.manifests}, f)


def layer(entries):
    """entries: (path, mode, data | None for a dir | str for a symlink target)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, mode, data in entries:
            info = tarfile.TarInfo(path)
            info.mtime, info.uid, info.gid, info.mode = MTIME, 0, 0, mode
            if data is None:
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            elif isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    diff = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, filename="") as g:
        g.write(diff)
    return gz.getvalue(), sha(diff)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: images.py OUTDIR BUSYBOX")
    out, busybox = sys.argv[1], sys.argv[2]
    with open(busybox, "rb") as f:
        bb = f.read()
    lay = Layout(os.path.join(out, "oci"))
    base_gz, base_diff = layer([
        ("bin", 0o755, None), ("bin/busybox", 0o755, bb), ("bin/sh", 0o777, "busybox"),
        ("tmp", 0o1777, None),
        ("etc", 0o755, None),
        ("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\n"),
        ("etc/group", 0o644, b"root:x:0:\nwww-data:x:33:\n"),
    ])
    base = lay.blob(base_gz, "application/vnd.oci.image.layer.v1.tar+gzip")
    refs = []
    for marker, names, user in IMAGES:
        mgz, mdiff = layer([(marker, 0o644, (marker + "\n").encode())])
        mark = lay.blob(mgz, "application/vnd.oci.image.layer.v1.tar+gzip")
        config = {
            "created": "2001-09-09T01:46:40Z",
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [base_diff, mdiff]},
        }
        if user:
            config["config"]["User"] = user
        cfg = lay.blob(json.dumps(config, sort_keys=True).encode(),
                       "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": cfg, "layers": [base, mark]}
        m = lay.blob(json.dumps(manifest, sort_keys=True).encode(),
                     "application/vnd.oci.image.manifest.v1+json")
        m["annotations"] = {"org.opencontainers.image.ref.name": marker}
        lay.manifests.append(m)
        refs += [f"{marker} {n}" for n in names]
    lay.finish()
    with open(os.path.join(out, "refs"), "w") as f:
        f.write("\n".join(refs) + "\n")


if __name__ == "__main__":
    main()
