#!/usr/bin/env bash
# Kubernetes volumes reach a CRI pod's VM, and so does the pod's DNS
# config: host bind mounts (a directory
# read-write, a symlinked host path read-only, a single file) are shared
# with the guest, a configMap-style atomic update on the host is seen by the
# running container, writes come back to the host, a read-only volume
# refuses writes, and no mount is left once the pod is gone.
#   e2e_cri_volumes.sh SRC BUILD [block]   block: a rootfs in a block slot, as
#   the confidential profiles have it: no host filesystem is shared, so a
#   host directory fails the container (at StartContainer, where CRI creates
#   the task) naming the volume instead of running without it, while a
#   configMap in kubelet's layout is copied into guest memory and an emptyDir
#   lives there.
MODE=${3:-}
[ "$MODE" = block ] && export COFFER_VMM_ROOTFS=block
. "$(dirname "$0")/e2e_lib.sh"
/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null || skip "python3-grpcio / python3-grpc-tools missing"
cri() { timeout 120 /usr/bin/python3 "$H/cri.py" "$@"; }

V=$T/volumes
mkdir -p "$V/data" "$V/target"
echo data-v1 >"$V/data/f"
echo linked-content >"$V/target/x"
ln -s "$V/target" "$V/link"
echo "key=1" >"$V/app.conf"
# a configMap as kubelet writes it: key -> ..data/key, ..data -> ..<version>
mkdir -p "$V/cm/..v1"
echo config-v1 >"$V/cm/..v1/key"
ln -s ..v1 "$V/cm/..data"
ln -s ..data/key "$V/cm/key"

log "RunPodSandbox + a container with four volumes"
pod=$(cri run-pod --handler coffer --dns 10.10.10.10 --dns-search coffer.test vols | tail -1) ||
  fail "RunPodSandbox failed: $pod"
mounts=(--mount "$V/data:/data" --mount "$V/link:/linked:ro" --mount "$V/app.conf:/etc/app.conf:ro"
        --mount "$V/cm:/etc/cm:ro")
if [ "$MODE" = block ]; then
  # CRI creates the task, and with it the VM side of the container, at start
  c1=$(cri create "${mounts[@]}" "$pod" c1 $IMG sleep 600 | tail -1) || fail "CreateContainer: $c1"
  out=$(cri start "$c1" 2>&1) &&
    fail "a volume was accepted by a pod whose guest shares no host filesystem: $out"
  echo "$out" | grep -q "/data" || fail "the create error does not name the volume: $out"
  echo "$out" | grep -q "shares no filesystem" || fail "the create error does not say why: $out"
  log "refused: $(echo "$out" | tail -1 | cut -c1-200)"
  # what kubelet prepares is copied into guest memory instead: a configMap
  # (kubelet's layout) and an emptyDir
  K=$V/pods/0b1c/volumes
  mkdir -p "$K/kubernetes.io~configmap/cfg/..v1" "$K/kubernetes.io~empty-dir/scratch"
  echo copied-v1 >"$K/kubernetes.io~configmap/cfg/..v1/key"
  ln -s ..v1 "$K/kubernetes.io~configmap/cfg/..data"
  ln -s ..data/key "$K/kubernetes.io~configmap/cfg/key"
  echo host-side >"$K/kubernetes.io~empty-dir/scratch/not-copied"
  c2=$(cri create --mount "$K/kubernetes.io~configmap/cfg:/etc/cfg:ro" \
       --mount "$K/kubernetes.io~empty-dir/scratch:/scratch" "$pod" c2 $IMG sleep 600 | tail -1) ||
    fail "CreateContainer c2: $c2"
  cri start "$c2" >/dev/null || fail "StartContainer with a configMap and an emptyDir"
  out=$(cri exec "$c2" -- sh -c 'cat /etc/cfg/key; ls /scratch | wc -l; echo w >/scratch/w && cat /scratch/w; awk '"'"'$2=="/etc/cfg"||$2=="/scratch"{print $2, $3}'"'"' /proc/mounts' 2>&1 | tr -d '\r')
  echo "$out"
  [ "$(echo "$out" | sed -n 1p)" = copied-v1 ] || fail "the configMap was not copied into the guest: '$out'"
  [ "$(echo "$out" | sed -n 2p)" = 0 ] || fail "the emptyDir carries host files: '$out'"
  echo "$out" | grep -qx w || fail "the emptyDir is not writable: '$out'"
  echo "$out" | grep -qx "/etc/cfg tmpfs" && echo "$out" | grep -qx "/scratch tmpfs" ||
    fail "the volumes are not in guest memory: '$out'"
  [ ! -e "$K/kubernetes.io~empty-dir/scratch/w" ] || fail "a write to the guest's emptyDir reached the host"
  log "a configMap is copied into guest memory, an emptyDir lives there"
  # kubelet's update: a new generation, then the ..data swap by rename
  CM=$K/kubernetes.io~configmap/cfg
  mkdir "$CM/..v2" && echo copied-v2 >"$CM/..v2/key"
  ln -s ..v2 "$CM/..data_tmp" && mv -T "$CM/..data_tmp" "$CM/..data" && rm -rf "$CM/..v1"
  seen() { [ "$(cri exec "$c2" -- cat /etc/cfg/key 2>&1 | tr -d '\r')" = copied-v2 ]; }
  wait_for 30 seen || fail "the configMap update did not reach the guest: $(cri exec "$c2" -- ls -a /etc/cfg 2>&1 | tr '\n' ' ')"
  out=$(cri exec "$c2" -- ls -a /etc/cfg 2>&1 | tr -d '\r' | tr '\n' ' ')
  case "$out" in *..v1*) fail "the old generation is still in the guest: $out" ;; esac
  log "the configMap update on the host reached the guest copy"
  cri stop-pod "$pod" >/dev/null || fail "StopPodSandbox"
  cri rm-pod "$pod" >/dev/null || fail "RemovePodSandbox"
  wait_for 30 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after RemovePodSandbox"
  echo PASS
  exit 0
fi
c1=$(cri create "${mounts[@]}" "$pod" c1 $IMG sleep 600 | tail -1) || fail "CreateContainer: $c1"
cri start "$c1" >/dev/null || fail "StartContainer"
x() { cri exec "$c1" -- "$@" 2>&1 | tr -d '\r'; }

out=$(x cat /data/f /linked/x /etc/app.conf /etc/cm/key)
[ "$out" = "$(printf 'data-v1\nlinked-content\nkey=1\nconfig-v1')" ] || fail "volume contents in the container: '$out'"
log "a directory, a symlinked host path, a file and a configMap are in the container"

out=$(x cat /etc/resolv.conf)
echo "$out" | grep -qx "nameserver 10.10.10.10" && echo "$out" | grep -qx "search coffer.test" ||
  fail "the pod's DNS config is not the container's resolv.conf: '$out'"
log "the pod's DNS config (CRI) is the container's resolv.conf"

x sh -c 'echo from-guest > /data/g' >/dev/null
[ "$(cat "$V/data/g" 2>/dev/null)" = from-guest ] || fail "a write to the rw volume did not reach the host"
out=$(x sh -c 'echo no > /linked/y && echo wrote || echo refused')
echo "$out" | grep -qx refused || fail "the read-only volume took a write: '$out'"
[ ! -e "$V/target/y" ] || fail "a write to the read-only volume reached the host"
log "writes reach the host through the rw volume; the ro volume refuses them"

# kubelet's atomic update: new version dir, then ..data swapped by rename
mkdir "$V/cm/..v2"
echo config-v2 >"$V/cm/..v2/key"
ln -s ..v2 "$V/cm/..data_tmp"
mv -T "$V/cm/..data_tmp" "$V/cm/..data"
echo data-v2 >"$V/data/f"
seen() { [ "$(x cat /etc/cm/key /data/f)" = "$(printf 'config-v2\ndata-v2')" ]; }
wait_for 20 seen || fail "the container still sees '$(x cat /etc/cm/key /data/f)' after the host updated the volumes"
log "host updates (configMap swap, file rewrite) are seen by the running container"

cri stop-pod "$pod" >/dev/null || fail "StopPodSandbox"
cri rm-pod "$pod" >/dev/null || fail "RemovePodSandbox"
wait_for 30 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after RemovePodSandbox"
[ "$(cat "$V/data/g")" = from-guest ] || fail "the volume's data is gone from the host after the pod"
grep -q " $V" /proc/self/mountinfo && fail "a mount of a volume source is left: $(grep " $V" /proc/self/mountinfo)"
echo PASS
