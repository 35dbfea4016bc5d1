#!/usr/bin/env bash
# Guest pull cost on the host: pull + verify + unpack of a ~5 MB image
# (busybox plus 4 MiB of random bytes, gzip) from Debian's docker-registry on
# 127.0.0.1, N times, through libcoffer_image (tests/image/image_tool),
# interleaved with `skopeo copy` of the same image to a local OCI layout
# (fetch and verify only, no unpack) as a reference point.
#   bench/image/run.sh BUILD_DIR [N=15]
set -euo pipefail
BUILD=${1:?usage: run.sh BUILD_DIR [N]}
N=${2:-15}
HERE=$(cd "$(dirname "$0")" && pwd)
TOOL=$BUILD/tests/image/image_tool
[ -x "$TOOL" ] || { echo "no $TOOL: build first" >&2; exit 1; }
W=$(mktemp -d /tmp/coffer-bench-image.XXXXXX)
cleanup() { bash "$HERE/../../tests/critest/registry.sh" stop "$W/reg" || true; rm -rf "$W"; }
trap cleanup EXIT
bash "$HERE/../../tests/critest/registry.sh" start "$W/reg" >/dev/null
. "$W/reg/env"
python3 - "$W/layout" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root = sys.argv[1]
os.makedirs(root + "/blobs/sha256")
def blob(data, mt):
    d = hashlib.sha256(data).hexdigest()
    open(f"{root}/blobs/sha256/{d}", "wb").write(data)
    return {"mediaType": mt, "digest": "sha256:" + d, "size": len(data)}
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    for name, data in (("bin/busybox", open("/bin/busybox", "rb").read()), ("data/random", os.urandom(4 << 20))):
        i = tarfile.TarInfo(name); i.size = len(data); i.mode = 0o755
        t.addfile(i, io.BytesIO(data))
diff = raw.getvalue()
layer = blob(gzip.compress(diff, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
cfg = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                       "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(diff).hexdigest()]}}).encode(),
           "application/vnd.oci.image.config.v1+json")
m = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "config": cfg, "layers": [layer]}).encode(), "application/vnd.oci.image.manifest.v1+json")
m["annotations"] = {"org.opencontainers.image.ref.name": "big"}
json.dump({"schemaVersion": 2, "manifests": [m]}, open(root + "/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(root + "/oci-layout", "w"))
print(f"image: {layer['size']} bytes compressed, {len(diff)} uncompressed", file=sys.stderr)
PY
REF=$REGISTRY_ADDR/bench/big:1
skopeo copy --quiet --dest-tls-verify=false "oci:$W/layout:big" "docker://$REF"
ms() { date +%s%N; }
pull=() copy=()
for i in $(seq "$N"); do
  mkdir "$W/r$i"
  t0=$(ms); "$TOOL" pull --insecure "$REF" "$W/r$i" >/dev/null; t1=$(ms)
  pull+=($(( (t1 - t0) / 1000000 )))
  cmp -s /bin/busybox "$W/r$i/bin/busybox" || { echo "bad unpack" >&2; exit 1; }
  rm -rf "$W/r$i"
  t0=$(ms); skopeo copy --quiet --src-tls-verify=false "docker://$REF" "oci:$W/copy$i:x"; t1=$(ms)
  copy+=($(( (t1 - t0) / 1000000 )))
  rm -rf "$W/copy$i"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "guest pull (fetch+verify+unpack, libcoffer_image): median $(median "${pull[@]}") ms over $N (all: ${pull[*]})"
echo "skopeo copy (fetch+verify, no unpack):            median $(median "${copy[@]}") ms over $N (all: ${copy[*]})"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
