#!/usr/bin/env bash
# The host side of encrypted images (issue 17, deliverable 3), on a private
# containerd 1.6 (Debian's) or 2.1 (sid's): a busybox image whose layer skopeo
# encrypted (jwe) is served by a local docker-registry.
#   1. without coffer-image-seed, CRI's PullImage fails on the encrypted layer
#      (the problem is real, and containerd has no way to decrypt it here);
#   2. after coffer-image-seed (and a containerd restart), a pod on the coffer handler (process backend)
#      gets the image through PullImage and CreateContainer without error; the
#      container's snapshot sits on the empty placeholders;
#   3. no byte of the plaintext (a random marker only the decrypted layer holds)
#      is anywhere in containerd's root or state (every content blob is also
#      gunzipped before the scan);
#   4. a runc pod given the encrypted image fails at start (empty rootfs), it
#      never sees plaintext;
#   5. after the containers and the image are removed, the garbage collector
#      removes the placeholders (nothing leaks);
#   6. the shim runs the seed itself at sandbox start for the images the pod's
#      annotation io.coffer.guest-pull-images names (then PullImage and
#      CreateContainer pass with no manual seed); a malformed name is refused,
#      and a seed that fails (no such image) fails the sandbox with its message;
#   7. the same scan finds the marker after a plain pull of an image holding it
#      (the scan can fail).
# StartContainer on the coffer handler needs the guest pull (agent/image/): not
# here.
. "$(dirname "$0")/lib.sh"
VER=${3:?containerd version 1.6 or 2.1}
SEED=$SRC/deploy/coffer-image-seed

[ "$(id -u)" = 0 ] || skip "needs root (containerd, mounts)"
/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null || skip "python3-grpcio / python3-grpc-tools missing"
for t in docker-registry skopeo umoci openssl runc gzip; do
  command -v $t >/dev/null || skip "$t missing (scripts/install-deps.sh)"
done
[ -x /bin/busybox ] || skip "/bin/busybox missing (busybox-static)"
SHIM=$BUILD/shim/containerd-shim-coffer-v2
AGENT=$BUILD/agent/coffer-agent
[ -x "$SHIM" ] && [ -x "$AGENT" ] || skip "shim or agent not built in $BUILD"

case $VER in
  1.6) command -v containerd >/dev/null || skip "containerd 1.6 not installed"
       CBIN=$(dirname "$(command -v containerd)") ;;
  2.1) CBIN=$(sid_containerd2_root)/usr/bin ;;
  *) fail "unknown version $VER" ;;
esac
CTR=$CBIN/ctr
log "containerd $("$CBIN/containerd" --version | awk '{print $3}')"

# --- the image: busybox plus a file holding the marker, one layer
MARKER=coffer-plaintext-marker-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
I=$T/img
mkdir -p "$I"
(
  cd "$I"
  umoci init --layout oci
  umoci new --image oci:base
  umoci unpack --image oci:base b
  mkdir -p b/rootfs/bin
  cp /bin/busybox b/rootfs/bin/busybox
  for a in sh cat echo sleep ls; do ln -s busybox "b/rootfs/bin/$a"; done
  echo "$MARKER" >b/rootfs/secret.txt
  umoci repack --image oci:base b
  umoci config --image oci:base --tag enc --config.cmd /bin/sh
  # the control: the same files plus one, so its layer (diff_id) differs
  echo control >b/rootfs/control.txt
  umoci repack --image oci:base b
  umoci config --image oci:base --tag control --config.cmd /bin/sh
) >"$T/umoci.log" 2>&1 || { cat "$T/umoci.log" >&2; fail "building the test image with umoci"; }
openssl genrsa -out "$T/priv.pem" 2048 2>/dev/null
openssl rsa -in "$T/priv.pem" -pubout -out "$T/pub.pem" 2>/dev/null

# --- the registry
port=""
for _ in 1 2 3 4 5; do
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "127.0.0.1:%s"}\n' \
    "$T/registry" "$port" >"$T/registry.yml"
  setsid docker-registry serve "$T/registry.yml" >"$T/registry.log" 2>&1 </dev/null &
  REG_PID=$!
  for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break 2; sleep 0.1; done
  kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null || true; REG_PID=""
done
[ -n "${REG_PID:-}" ] || fail "docker-registry did not serve (see $T/registry.log)"
CLEANUPS+=('kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null')
REG=127.0.0.1:$port
ENC=$REG/coffer/secret:enc
CONTROL=$REG/coffer/secret:control
skopeo copy --quiet --dest-tls-verify=false --encryption-key "jwe:$T/pub.pem" \
  "oci:$I/oci:enc" "docker://$ENC" || fail "skopeo could not push the encrypted image"
skopeo copy --quiet --dest-tls-verify=false "oci:$I/oci:control" "docker://$CONTROL" ||
  fail "skopeo could not push the control image"
skopeo inspect --tls-verify=false --raw "docker://$ENC" >"$T/enc-manifest.json"
jq -e '.layers | length == 1 and (.[0].mediaType | endswith("+encrypted"))
       and (.[0].annotations | has("org.opencontainers.image.enc.keys.jwe"))' "$T/enc-manifest.json" >/dev/null ||
  { cat "$T/enc-manifest.json" >&2; fail "skopeo's image is not a jwe-encrypted one"; }
echo "registry $REG: $ENC ($(jq -r '.layers[0].mediaType' "$T/enc-manifest.json")), $CONTROL"

# --- containerd, CRI handlers runc and coffer (process backend)
C=$T/c
STATE=/run/cfes-${T##*.}
SOCK=$C/c.sock
mkdir -p "$C"
cat >"$T/coffer.json" <<EOF
{"backend": "process", "agent_path": "$AGENT", "state_dir": "$STATE", "agent_timeout_ms": 10000,
 "image_seed": "$T/seed.sh"}
EOF
# the shim runs the seed with fixed arguments; the test registry speaks plain HTTP
printf '#!/bin/sh\nexec "%s" --plain-http "$@"\n' "$SEED" >"$T/seed.sh"
chmod +x "$T/seed.sh"
if [ "$VER" = 1.6 ]; then
  cri='plugins."io.containerd.grpc.v1.cri"'
  cat >"$C/config.toml" <<EOF
version = 2
root = "$C/root"
state = "$C/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[$cri]
  restrict_oom_score_adj = true
  sandbox_image = "localhost/pause:latest"
  stream_server_port = "0"
[$cri.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[$cri.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[$cri.containerd.runtimes.coffer]
  runtime_type = "io.containerd.coffer.v2"
  pod_annotations = ["io.coffer.*"]
[$cri.containerd.runtimes.coffer.options]
  ConfigPath = "$T/coffer.json"
EOF
else
  cat >"$C/config.toml" <<EOF
version = 3
root = "$C/root"
state = "$C/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "localhost/pause:latest"
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
[plugins."io.containerd.cri.v1.runtime".containerd]
  default_runtime_name = "runc"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.coffer]
  runtime_type = "io.containerd.coffer.v2"
  pod_annotations = ["io.coffer.*"]
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.coffer.options]
  ConfigPath = "$T/coffer.json"
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_port = "0"
EOF
fi
start_containerd() {
  PATH=$BUILD/shim:$CBIN:$PATH setsid "$CBIN/containerd" --config "$C/config.toml" >>"$C/containerd.log" 2>&1 </dev/null &
  CPID=$!
  for _ in $(seq 100); do "${K[@]}" version >/dev/null 2>&1 && return 0; sleep 0.1; done
  containerd_log; fail "containerd $VER did not start"
}
K=("$CTR" --address "$SOCK" --namespace k8s.io)
containerd_log() { echo "--- containerd log:" >&2; grep -v ImageCreate "$C/containerd.log" | tail -25 | cut -c1-400 >&2; }
stop_containerd() {
  kill -TERM "$CPID" 2>/dev/null; sleep 0.3; kill -KILL "$CPID" 2>/dev/null
  local f
  for f in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$f/cmdline" | grep -qE "$STATE/|$C/" && kill -9 "${f#/proc/}" 2>/dev/null
  done
  for f in "$C"/state/io.containerd.runtime.v2.task/*/*/address; do
    [ -f "$f" ] && rm -f "$(sed 's|^unix://||' "$f")"
  done
  awk -v s="$STATE" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  rm -rf "$STATE"
  for f in "$C"/state/io.containerd.runtime.v2.task/k8s.io/*; do
    [ -d "$f" ] && rmdir /sys/fs/cgroup/k8s.io/"${f##*/}" 2>/dev/null
  done
  return 0
}
CLEANUPS+=("stop_containerd")
start_containerd
IMAGES=$(bash "$H/images.sh" "$BUILD/test-images")
"${K[@]}" images import "$IMAGES" >/dev/null
CRI=(/usr/bin/python3 "$H/cri.py" --address "$SOCK" --timeout 120)

# Files under containerd's root and state holding the marker; content blobs
# are also read gunzipped (a plain pull's layer is compressed there).
scan() {
  grep -rlaF "$MARKER" "$C/root" "$C/state" 2>/dev/null || true
  local b
  for b in "$C"/root/io.containerd.content.v1.content/blobs/sha256/*; do
    [ -f "$b" ] || continue
    gzip -dc "$b" 2>/dev/null | grep -qaF "$MARKER" && echo "$b (gunzipped)"
  done
  return 0
}

log "1. without the seed, CRI's PullImage fails on the encrypted layer"
if "${CRI[@]}" pull "$ENC" >"$T/pull0.out" 2>"$T/pull0.err"; then
  containerd_log; fail "the encrypted image pulled without a seed: did containerd decrypt it?"
fi
grep -q encrypted "$T/pull0.err" || { cat "$T/pull0.err" >&2; fail "the unseeded pull failed for another reason"; }
echo "refused: $(cut -c1-240 "$T/pull0.err")"

log "2. coffer-image-seed, then PullImage and CreateContainer for a coffer pod"
"$SEED" --ctr "$CTR" --address "$SOCK" --plain-http "$ENC" 2>"$T/seed.err" ||
  { cat "$T/seed.err" >&2; containerd_log; fail "coffer-image-seed failed"; }
cat "$T/seed.err"
top=$(sed -n 's/.* top \(sha256:[0-9a-f]*\)$/\1/p' "$T/seed.err")
[ -n "$top" ] || fail "the seed named no top chain ID"
# the placeholders are containerd's own metadata: a restart keeps them
kill -TERM "$CPID"; for _ in $(seq 100); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
start_containerd
echo "containerd restarted after the seed"
pod=$(timeout 120 "${CRI[@]}" run-pod enc-pod --handler coffer) || { containerd_log; fail "RunPodSandbox (coffer)"; }
timeout 120 "${CRI[@]}" pull "$ENC" --pod "$pod" >"$T/pull1.out" 2>"$T/pull1.err" ||
  { cat "$T/pull1.err" >&2; containerd_log; fail "PullImage of the seeded encrypted image failed"; }
echo "PullImage: $(cat "$T/pull1.out")"
ctr=$(timeout 120 "${CRI[@]}" create "$pod" enc "$ENC" -- /bin/cat /secret.txt 2>"$T/create.err") ||
  { cat "$T/create.err" >&2; containerd_log; fail "CreateContainer with the encrypted image failed"; }
echo "CreateContainer: $ctr"
parent=$("${K[@]}" snapshots --snapshotter overlayfs info "$ctr" | jq -r .Parent)
[ "$parent" = "$top" ] || fail "the container's snapshot sits on '$parent', not the placeholder $top"
"${K[@]}" snapshots --snapshotter overlayfs info "$top" | jq -e '.Labels["io.coffer.placeholder"]' >/dev/null ||
  fail "$top is not a coffer placeholder"
echo "the container's snapshot sits on placeholder $top"

log "3. no plaintext byte on the host"
found=$(scan)
[ -z "$found" ] || fail "the marker is on the host: $found"
echo "marker $MARKER not found under $C/root or $C/state (content blobs also gunzipped)"

log "4. a runc pod given the encrypted image fails at start and sees no plaintext"
rpod=$(timeout 120 "${CRI[@]}" run-pod runc-pod --handler runc) || { containerd_log; fail "RunPodSandbox (runc)"; }
rctr=$(timeout 120 "${CRI[@]}" create "$rpod" enc "$ENC" -- /bin/cat /secret.txt) ||
  { containerd_log; fail "CreateContainer (runc)"; }
if timeout 120 "${CRI[@]}" start "$rctr" 2>"$T/runc-start.err"; then
  fail "runc started a container on the placeholder rootfs"
fi
grep -q "no such file" "$T/runc-start.err" || { cat "$T/runc-start.err" >&2; fail "runc's start failed for another reason"; }
echo "runc: $(grep -o 'exec: [^:]*: [^:]*: no such file or directory' "$T/runc-start.err" | head -1)"
[ -z "$(scan)" ] || fail "the marker is on the host after the runc attempt: $(scan)"

log "5. removing the containers and the image removes the placeholders"
for p in "$pod" "$rpod"; do
  timeout 60 "${CRI[@]}" stop-pod "$p" && timeout 60 "${CRI[@]}" rm-pod "$p" || fail "removing pod $p"
done
timeout 60 "${CRI[@]}" rmi "$ENC" || fail "RemoveImage $ENC"
for _ in $(seq 50); do
  "${K[@]}" snapshots --snapshotter overlayfs info "$top" >/dev/null 2>&1 || break
  sleep 0.1
done
if "${K[@]}" snapshots --snapshotter overlayfs info "$top" >/dev/null 2>&1; then
  "${K[@]}" snapshots --snapshotter overlayfs ls >&2
  fail "placeholder $top outlived its image"
fi
echo "placeholder $top collected with the image"

log "6. the shim seeds the images its sandbox annotation names, before the pull"
"${K[@]}" images ls -q | grep -qxF "$ENC" && fail "$ENC is still there: the step would prove nothing"
pod=$(timeout 120 "${CRI[@]}" run-pod enc-pod2 --handler coffer \
        --annotation "io.coffer.guest-pull-images=$ENC") || { containerd_log; fail "RunPodSandbox (annotated)"; }
# a kubelet with imagePullPolicy IfNotPresent asks ImageStatus first: the image is there
st=$(timeout 60 "${CRI[@]}" image-status "$ENC") || fail "ImageStatus $ENC"
[ "$(printf '%s' "$st" | jq -r '.image.id // empty')" != "" ] ||
  { echo "$st" >&2; fail "CRI does not list $ENC after the shim's seed"; }
timeout 120 "${CRI[@]}" pull "$ENC" --pod "$pod" >/dev/null 2>"$T/pull2.err" ||
  { cat "$T/pull2.err" >&2; containerd_log; fail "PullImage after the shim's seed failed"; }
ctr=$(timeout 120 "${CRI[@]}" create "$pod" enc "$ENC" -- /bin/cat /secret.txt) ||
  { containerd_log; fail "CreateContainer after the shim's seed"; }
"${K[@]}" snapshots --snapshotter overlayfs info "$top" | jq -e '.Labels["io.coffer.placeholder"]' >/dev/null ||
  fail "the shim's seed left no placeholder $top"
[ -z "$(scan)" ] || fail "the marker is on the host: $(scan)"
echo "pod $pod: the shim seeded $ENC at sandbox start; ImageStatus lists it, PullImage and CreateContainer passed, no marker"
if timeout 120 "${CRI[@]}" run-pod bad-pod --handler coffer \
     --annotation 'io.coffer.guest-pull-images=x;reboot' 2>"$T/bad.err" >/dev/null; then
  fail "a pod naming 'x;reboot' as an image started"
fi
grep -q 'io.coffer.guest-pull-images: "x;reboot" is not an image reference' "$T/bad.err" ||
  { cat "$T/bad.err" >&2; fail "the bad annotation failed for another reason"; }
echo "refused: $(grep -o 'annotation io.coffer[^"]*"[^"]*" is not an image reference' "$T/bad.err")"
if timeout 120 "${CRI[@]}" run-pod missing-pod --handler coffer \
     --annotation "io.coffer.guest-pull-images=$REG/coffer/missing:1" 2>"$T/missing.err" >/dev/null; then
  fail "a pod whose guest-pulled image cannot be seeded started"
fi
grep -q "$REG/coffer/missing:1: fetching its manifest and config failed" "$T/missing.err" ||
  { cat "$T/missing.err" >&2; fail "the failed seed's message did not reach CRI"; }
echo "refused: $(grep -o 'image seed [^"]*' "$T/missing.err" | head -1 | cut -c1-200)"
timeout 60 "${CRI[@]}" stop-pod "$pod" && timeout 60 "${CRI[@]}" rm-pod "$pod" || fail "removing pod $pod"
# the agent was told at CreateSandbox and started pulling the image then (agent/prefetch.h;
# it fails here: no coffer-image-pull in this test): the pod went before any container took
# that pull, and nothing of it is left (no mount, no process)
grep -q "pulling 1 image(s) in the guest from now on, first $ENC" "$C/containerd.log" ||
  { containerd_log; fail "the agent did not start pulling $ENC at CreateSandbox"; }
left=$(awk -v s="$STATE" '$5 ~ "^"s {print $5}' /proc/self/mountinfo)
[ -z "$left" ] || fail "mounts left under $STATE after the pod: $left"
! pgrep -f "coffer-image-pull.*$ENC" >/dev/null || fail "a coffer-image-pull of $ENC outlived the pod"
echo "the agent started pulling $ENC at CreateSandbox; after the pod, no mount or process of it is left"

log "7. the scan finds the marker after a plain pull (the test can fail)"
timeout 120 "${CRI[@]}" pull "$CONTROL" >/dev/null || { containerd_log; fail "PullImage of the plain control image"; }
found=$(scan)
[ -n "$found" ] || fail "the scan missed the marker of a plain, unpacked image"
echo "found after the plain pull: $(echo "$found" | sed "s|$C/||" | tr '\n' ' ')"
# the shim's start (and the seed it runs) under a sanitizer build report here
if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$C/containerd.log"; then
  grep -E -A20 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$C/containerd.log" | head -40 >&2
  fail "sanitizer report in containerd's log"
fi
echo PASS
