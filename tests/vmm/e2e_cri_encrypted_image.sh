#!/usr/bin/env bash
# An encrypted image, pulled and decrypted only inside the attested guest,
# through CRI, in a VM (plain profile, sample attester). On the host side of
# a CNI bridge: a TLS registry (Debian's docker-registry) serving one image
# that skopeo encrypted (--encryption-key jwe:, an implementation nobody here
# wrote) and a coffer-kbs holding the private key, both with a certificate
# the pod's init-data pins. The pod names the image in
# io.coffer.guest-pull-images: the shim seeds it (deploy/coffer-image-seed)
# so containerd's CRI pull takes only the manifest and config and unpacks
# nothing; the agent pulls it over the pod network, the attester fetches the
# key after attestation, and the layer is decrypted in guest memory.
# Proves: the container runs the image's own files (the sha256 of a marker
# file only the decrypted layer holds); its layers arrived encrypted (the
# agent's log); a key the broker's policy denies fails CreateContainer with
# the broker's reason; and the marker is in no file of containerd's root,
# state and logs, the pods' state directory, nor in the shim's memory, while
# the same scan finds it in the unpacked plain layer (the scan can fail).
E2E_ATTESTER=1
E2E_IMAGE_PULL=1
HOSTS=$(mktemp -d /tmp/cfhosts.XXXXXX) # CRI's registry.config_path, set before containerd starts
export COFFER_HARNESS_REGISTRY_HOSTS=$HOSTS
. "$(dirname "$0")/e2e_lib.sh"
for t in skopeo docker-registry jq openssl; do command -v $t >/dev/null || skip "$t missing (scripts/install-deps.sh)"; done
/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null || skip "python3-grpcio / grpc-tools missing"
[ -x /bin/busybox ] || skip "/bin/busybox missing (busybox-static)"
KBS=$BUILD/kbs/coffer-kbs
[ -x "$KBS" ] || skip "coffer-kbs not built"
SEED=$SRC/deploy/coffer-image-seed
[ -x "$SEED" ] || skip "deploy/coffer-image-seed missing"

e2e_cni_bridge cofi 199 170
net_cleanup() { # under set -e: every step must succeed or be excused
  [ -z "${KBS_PID:-}" ] || kill "$KBS_PID" 2>/dev/null || true
  [ -z "${REG_PID:-}" ] || kill "$REG_PID" 2>/dev/null || true
  if [ -n "${py:-}" ]; then pkill -TERM -P "$py" 2>/dev/null || true; kill "$py" 2>/dev/null || true; fi
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$HOSTS"
}
trap 'rc=$?; set +e; net_cleanup; (exit $rc); e2e_cleanup' EXIT
# the bridge and its gateway address exist before the first pod: the shim's
# seed reaches the registry at $SUBNET.1 before CNI sets the pod's network up
# (the bridge plugin takes the bridge as it finds it)
ip link add "$BR" type bridge
ip addr add "$SUBNET.1/24" dev "$BR"
ip link set "$BR" up
K=$T/pki; mkdir -p "$K"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])'; }

log "a CA, a certificate for $SUBNET.1, a TLS registry and a broker"
e2e_pki "$K"
RPORT=$(free_port)
cat >"$T/registry.yml" <<Y
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $T/registry}}
http:
  addr: 0.0.0.0:$RPORT
  tls: {certificate: $K/srv.crt, key: $K/srv.key}
Y
setsid docker-registry serve "$T/registry.yml" >"$T/registry.log" 2>&1 </dev/null &
REG_PID=$!
wait_for 10 curl -fsS --cacert "$K/ca.crt" "https://127.0.0.1:$RPORT/v2/" -o /dev/null ||
  fail "docker-registry did not serve TLS on $RPORT: $(cat "$T/registry.log")"
REG=$SUBNET.1:$RPORT
mkdir -p "$HOSTS/$REG"
cat >"$HOSTS/$REG/hosts.toml" <<H
server = "https://$REG"
[host."https://$REG"]
  capabilities = ["pull", "resolve"]
  ca = "$K/ca.crt"
H

MARK=coffer-image-marker-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
python3 "$SRC/tests/shim/marker_image.py" "$T/img" /bin/busybox "$MARK"
openssl genrsa -out "$K/image.pem" 2048 2>/dev/null
openssl rsa -in "$K/image.pem" -pubout -out "$K/image.pub" 2>/dev/null
skopeo copy -q --dest-tls-verify=false --encryption-key "jwe:$K/image.pub" \
  "oci:$T/img:img" "docker://127.0.0.1:$RPORT/coffer/secret-app:1"
IMAGE=$REG/coffer/secret-app:1
skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$RPORT/coffer/secret-app:1" >"$T/manifest.json"
jq -e '[.layers[].mediaType | endswith("+encrypted")] | all' "$T/manifest.json" >/dev/null ||
  fail "skopeo did not encrypt every layer: $(cat "$T/manifest.json")"

mkdir -p "$T/res/default/image-key" "$T/res/other/image-key"
cp "$K/image.pem" "$T/res/default/image-key/rsa"
cp "$K/image.pem" "$T/res/other/image-key/rsa"
cat >"$T/policy.json" <<'P'
{"rules": [{"name": "sample-keys", "resource": "default/image-key/*", "tee": ["sample"],
            "status": ["affirming", "warning", "contraindicated"]}]}
P
cat >"$T/kbs.json" <<J
{"listen": "0.0.0.0:0", "tls": {"cert": "$K/srv.crt", "key": "$K/srv.key"}, "resource_dir": "$T/res",
 "policy": "$T/policy.json", "sample": {"enabled": true}}
J
"$KBS" --config "$T/kbs.json" >"$T/kbs.out" 2>"$T/kbs.log" &
KBS_PID=$!
for _ in $(seq 50); do grep -q "listening on" "$T/kbs.out" && break; sleep 0.1; done
KPORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$T/kbs.out")
[ -n "$KPORT" ] || fail "coffer-kbs did not start: $(cat "$T/kbs.log")"

initdata() { # the key's resource
  printf 'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"aa.toml" = '"'''"'\n[token_configs.kbs]\nurl = "https://%s:%s"\ncert = """\n' "$SUBNET.1" "$KPORT"
  cat "$K/ca.crt"
  printf '"""\n'"'''"'\n"coffer.toml" = '"'''"'\n[image]\ndecryption_keys = ["%s"]\nregistry_ca = """\n' "$1"
  cat "$K/ca.crt"
  printf '"""\n'"'''"'\n'
}
INIT=$(initdata kbs:///default/image-key/rsa | gzip -c | base64 -w0)
DENIED=$(initdata kbs:///other/image-key/rsa | gzip -c | base64 -w0)
# the shim seeds the pod's guest-pulled images (with this registry's CA),
# attests with the sample attester, and pulls in the guest
cat >"$T/seed.sh" <<S
#!/bin/sh
exec "$SEED" --hosts-dir "$HOSTS" "\$@"
S
chmod +x "$T/seed.sh"
sed -i "s|}\$|, \"sample_attestation\": true, \"image_pull\": \"guest\", \"image_seed\": \"$T/seed.sh\"}|" "$CONFIG"
sleep 1 # containerd's CRI picks the CNI conf dir up by inotify

log "a CRI pod running the encrypted image"
mkdir -p "$T/c/podlogs"
cat >"$T/run.py" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
import cri
# the pod network (CNI), which the guest reaches the registry over
cri.HOST_NETWORK = cri.pb.NamespaceOption(network=cri.pb.POD, pid=cri.pb.CONTAINER, ipc=cri.pb.POD)
c = cri.Client(sys.argv[2], timeout=300)
image, init, denied, logdir = sys.argv[3:7]
def run(name, init_b64):
    pod = c.run_pod(name, handler="coffer", log_directory=logdir,
                    annotations={"io.coffer.init-data": init_b64, "io.coffer.guest-pull-images": image})
    print("POD_%s=%s" % (name, pod), flush=True)
    ref = c.pull_image(image, pod)
    print("PULLED_%s=%s" % (name, ref), flush=True)
    return pod
pod = run("enc", init)
t0 = time.time()
ctr = c.create_container(pod, "app", image, ["/bin/busybox", "sha256sum", "/coffer-marker"],
                         log_path="app.log")
c.start_container(ctr)
print("CREATE_START_SECONDS=%.2f" % (time.time() - t0), flush=True)
for _ in range(300):
    st = c.container_status(ctr).status
    if st.state == cri.pb.CONTAINER_EXITED:
        break
    time.sleep(0.2)
print("APP_EXIT=%d" % st.exit_code, flush=True)
print("APP_LOG=" + st.log_path, flush=True)
print("READY=1", flush=True)
sys.stdin.readline()  # the shell scans the host meanwhile
c.stop_pod(pod); c.remove_pod(pod)
pod = run("denied", denied)
try:
    bad = c.create_container(pod, "app", image, ["/bin/busybox", "true"])
    c.start_container(bad)
    print("DENIED=started", flush=True)
except Exception as e:
    print("DENIED=" + str(e).replace("\n", " ")[:1500], flush=True)
c.stop_pod(pod); c.remove_pod(pod)
print("DONE=1", flush=True)
PY
OUT=$T/run.out
mkfifo "$T/go"
(timeout 900 /usr/bin/python3 "$T/run.py" "$H" "$CONTAINERD_ADDRESS" "$IMAGE" "$INIT" "$DENIED" "$T/c/podlogs" \
   <"$T/go" >"$OUT" 2>&1) &
py=$!
exec 7>"$T/go"
up() { grep -q '^READY=1' "$OUT" || ! kill -0 $py 2>/dev/null; }
wait_for 600 up; grep -q '^READY=1' "$OUT" || { cat "$OUT"; fail "the pod did not run"; }
cat "$OUT"
grep -q '^APP_EXIT=0' "$OUT" || fail "the container failed"
log=$(sed -n 's/^APP_LOG=//p' "$OUT")
got=$(sed -E 's/^[^ ]+ (stdout|stderr) [FP] //' "$log" | cut -d' ' -f1)
want=$(printf '%s\n' "$MARK" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "the container's /coffer-marker hashes to '$got', the image's to $want"
echo "ok: the container runs the decrypted image (sha256 of its marker file matches)"
grep -q "image $IMAGE is pulled in the guest" "$T/c/containerd.log" || fail "the shim did not ask for a guest pull"
layers=$(grep -o "layer sha256:[0-9a-f]* application/vnd.oci.image.layer.v1.tar+gzip+encrypted -> application/vnd.oci.image.layer.v1.tar+gzip" "$T/c/containerd.log" | sort -u)
[ "$(wc -l <<<"$layers")" = 2 ] || fail "the agent did not log two decrypted layers: $layers"
echo "ok: as the guest saw them: $(tr '\n' ';' <<<"$layers")"
# the pod lists the image: the guest started pulling it at CreateSandbox and
# CreateContainer took that pull (agent/prefetch.h)
grep -q "image $IMAGE pulled and unpacked in [0-9]* ms; started at CreateSandbox, CreateContainer waited" \
  "$T/c/containerd.log" || fail "the container did not take the pull started at CreateSandbox"
echo "ok: $(grep -o "image $IMAGE pulled and unpacked in [0-9]* ms; started at CreateSandbox, CreateContainer waited [0-9]* ms" "$T/c/containerd.log" | head -1)"

log "the decrypted image is nowhere on the host"
mkdir -p "$T/control"
tar -xzf "$T/img/blobs/sha256/$(jq -r '.layers[1].digest' "$T/img/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/img/index.json" | cut -d: -f2)" | cut -d: -f2)" -C "$T/control"
grep -rqF "$MARK" "$T/control" || fail "the scan cannot find the marker in the unpacked plain layer (broken scan)"
hits=$(grep -rlF "$MARK" "$CONTAINERD_ROOT" "$CONTAINERD_STATE" "$T/c/podlogs" "$T/c/containerd.log" "$STATE" \
  /run/containerd 2>/dev/null || true)
[ -z "$hits" ] || fail "the marker is on the host in: $hits"
shim=""
for p in /proc/[0-9]*; do
  [ "$(readlink "$p/exe" 2>/dev/null)" = "$SHIM_BIN" ] || continue
  tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$CONTAINERD_ADDRESS" && shim="$shim ${p#/proc/}"
done
[ -n "$shim" ] || fail "no shim process found"
/usr/bin/python3 - "$MARK" $shim <<'PY' || fail "the marker is in the shim's memory"
import re, sys
needle = sys.argv[1].encode()
for pid in sys.argv[2:]:
    with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
        for l in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", l)
            if "r" not in m.group(3):
                continue
            try:
                mem.seek(int(m.group(1), 16))
                data = mem.read(int(m.group(2), 16) - int(m.group(1), 16))
            except OSError:
                continue
            if needle in data:
                print("FOUND in pid %s at %s" % (pid, l.strip()))
                sys.exit(1)
print("ok: the shim's memory holds no marker")
PY
echo "ok: no file under containerd's root ($CONTAINERD_ROOT), state, logs or $STATE holds the marker"
echo go >&7; exec 7>&-

log "a key the broker's policy denies"
wait $py || { cat "$OUT"; fail "the pods did not run or stop"; }
grep '^DENIED=' "$OUT" | cut -c1-600
grep -q '^DENIED=.*no rule covers other/image-key/rsa' "$OUT" || fail "a denied key did not fail the create with the broker's reason"
grep -q "image $IMAGE: the pull started at CreateSandbox failed after" "$T/c/containerd.log" ||
  fail "the denied key's failure did not come from the pull started at CreateSandbox"
echo "ok: the pull started at CreateSandbox failed on the denied key and CreateContainer reported it"
echo PASS
