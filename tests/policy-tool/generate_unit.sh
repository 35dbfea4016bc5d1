#!/usr/bin/env bash
# coffer-policy generate without containerd: images from a content store
# directory the test writes (index -> linux/amd64 manifest -> config, named
# by their sha256), referenced by digest. Checks the resolution rules
# (Entrypoint/Cmd vs command/args, env, user, capabilities, probes), the
# pins, the init-data and its annotation, and that bad input fails with a
# clear message and exit 2. Usage: generate_unit.sh SRC BUILD
set -euo pipefail
SRC=$(cd "$1" && pwd)
BIN=$2/agent/policy/tool/coffer-policy
[ -x "$BIN" ] || { echo "SKIP: coffer-policy not built"; exit 77; }
PY=/usr/bin/python3
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }
T=$(mktemp -d /tmp/cfpu.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$T/blobs"
blob() { # blob FILE -> sha256:<hex>, stored under its digest
  local h; h=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$T/blobs/$h"; echo "sha256:$h"
}
# a gzip layer with the image's /etc/passwd and /etc/group (the groups a
# user is listed in end up in additionalGids), and an upper plain layer
# holding nothing of them
mkdir -p "$T/l1/etc" "$T/l2/srv"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:10:20::/srv:/bin/sh\n' >"$T/l1/etc/passwd"
printf 'root:x:0:\nwheel:x:10:root\nstaff:x:50:other,app\nappgrp:x:20:\nnope:x:60:application\n' >"$T/l1/etc/group"
tar -C "$T/l1" -czf "$T/l1.tgz" ./etc
tar -C "$T/l2" -cf "$T/l2.tar" srv
L1=$(blob "$T/l1.tgz"); L2=$(blob "$T/l2.tar")
image() { # image CONFIG_JSON [LAYERS_JSON] -> the index digest
  printf '{"architecture":"amd64","os":"linux","config":%s}' "$1" >"$T/cfg.json"
  local c m; c=$(blob "$T/cfg.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"%s","size":1},"layers":%s}' "$c" "${2:-[]}" >"$T/man.json"
  m=$(blob "$T/man.json")
  printf '{"schemaVersion":2,"manifests":[{"digest":"sha256:%064d","platform":{"os":"linux","architecture":"arm64"}},{"digest":"%s","platform":{"os":"linux","architecture":"amd64"}}]}' 0 "$m" >"$T/idx.json"
  blob "$T/idx.json"
}
APP=$(image '{"Entrypoint":["/app"],"Cmd":["--serve"],"Env":["PATH=/bin","LANG=C"],"WorkingDir":"/srv","User":"10:20"}' \
  "[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$L1\"},{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"$L2\"}]")
PAUSE=$(image '{"Entrypoint":["/pause"]}')
RH=$(printf '%064d' 7 | tr 0 a)
cat >"$T/pod.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations: {io.coffer.trace: "on"}
spec:
  securityContext: {supplementalGroups: [3000], fsGroup: 4000}
  containers:
  - name: a
    image: example.org/app@$APP
    args: ["--port", "\$(PORT)"]
    env:
    - {name: PORT, value: "8080"}
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: s, key: k}}
    securityContext:
      capabilities: {drop: [NET_RAW, KILL], add: [NET_ADMIN]}
    startupProbe: {exec: {command: [/app, --check]}}
    volumeMounts: [{name: cache, mountPath: /cache}, {name: host, mountPath: /h, readOnly: true}]
  - name: b
    image: example.org/app@$APP
    command: ["/bin/sh", "-c", "echo \$(PORT)"]
    securityContext: {runAsUser: 0, runAsGroup: 0, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}
  volumes:
  - {name: cache, emptyDir: {}}
  - {name: host, hostPath: {path: /srv/data}}
YAML
"$BIN" generate "$T/pod.yaml" -o "$T/out" --image-config "$T/blobs" --pause-image "example.org/pause@$PAUSE" \
  --root-hash "example.org/app@$APP=$RH" --secret db=kbs:///default/db/password \
  --kbs-url https://kbs.example:8080 || fail "generate failed"
$PY - "$T/out/policy.json" "$APP" "$RH" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); app, rh = sys.argv[2], sys.argv[3]
def eq(what, got, want):
    if got != want:
        sys.exit("FAIL: %s: %r, want %r" % (what, got, want))
sb, a, b = p["containers"]
eq("default", p["default"], "deny")
eq("logs", (p["rpcs"]["ReadStdout"], p["rpcs"]["WriteStdin"]), ("deny", "deny"))
eq("pause args", sb["process"]["args"], ["/pause"])
eq("sandbox", sb["sandbox"], True)
eq("a args (Entrypoint + args, $(PORT) expanded)", a["process"]["args"], ["/app", "--port", "8080"])
eq("b args (command replaces Entrypoint and Cmd)", b["process"]["args"], ["/bin/sh", "-c", "echo $(PORT)"])
eq("a env", a["process"]["env"], ["PATH=/bin", "LANG=C", "PORT=8080"])
eq("a env patterns", a["process"]["env_patterns"][0], "TOKEN=.*")
eq("a cwd", a["process"]["cwd"], "/srv")
eq("a user from the image", (a["process"]["uid"], a["process"]["gid"]), (10, 20))
eq("b user from runAsUser", (b["process"]["uid"], b["process"]["gid"]), (0, 0))
eq("a groups: gid, the image's /etc/group listing app, supplementalGroups, fsGroup",
   a["process"]["groups"], [20, 50, 3000, 4000])
eq("b groups: root's", b["process"]["groups"], [0, 10, 3000, 4000])
caps = a["process"]["capabilities"]
eq("a caps", ("CAP_NET_ADMIN" in caps, "CAP_NET_RAW" in caps, "CAP_KILL" in caps, "CAP_CHOWN" in caps),
   (True, False, False, True))
eq("b no_new_privs", b["process"].get("no_new_privs"), True)
eq("a no_new_privs unchecked", a["process"].get("no_new_privs"), None)
eq("b readonly_root", b.get("readonly_root"), True)
eq("a exec (startupProbe)", a["exec"], [["/app", "--check"]])
eq("b exec (none)", b["exec"], [])
eq("a image", (a["image"]["name"], a["image"]["digests"], a["image"].get("root_hashes")),
   ("example.org/app@" + app, [app], [rh]))
eq("annotations", a["annotations"]["io.coffer.trace"], "on")
m = {x["destination"]: x for x in a["mounts"]}
eq("emptyDir", m["/cache"]["source_pattern"],
   "/var/lib/kubelet/pods/[0-9a-f-]+/volumes/kubernetes\\.io~empty-dir/cache")
eq("hostPath", (m["/h"]["source"], m["/h"]["options"]), ("/srv/data", ["rbind", "rprivate", "ro"]))
eq("b's pod files read-only with its root", [x["options"][-1] for x in b["mounts"] if x["destination"] == "/etc/hostname"], ["ro"])
for d in ("/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/etc/hosts",
          "/etc/resolv.conf", "/etc/hostname", "/dev/shm", "/dev/termination-log",
          "/var/run/secrets/kubernetes.io/serviceaccount"):
    if d not in m:
        sys.exit("FAIL: standard mount %s missing" % d)
print("ok: policy fields")
PY
# init-data: the TOML the agent's parser took, its digest, the annotation
grep -q '^algorithm = "sha384"$' "$T/out/initdata.toml" || fail "not sha384 by default"
grep -q '^"db" = "kbs:///default/db/password"$' "$T/out/initdata.toml" || fail "secret not in coffer.toml"
grep -q '^url = "https://kbs.example:8080"$' "$T/out/initdata.toml" || fail "kbs url not in aa.toml"
want=$(sha384sum "$T/out/initdata.toml" | cut -d' ' -f1)
[ "$(head -1 "$T/out/initdata.digest")" = "$want" ] || fail "initdata.digest is not the TOML's sha384"
grep -q "^snp_host_data=${want:0:64}\$" "$T/out/initdata.digest" || fail "HOST_DATA is not the digest's first 32 bytes"
base64 -d "$T/out/annotation" | gunzip | cmp -s - "$T/out/initdata.toml" || fail "annotation is not base64(gzip(TOML))"
echo "ok: init-data, digest $want"

err() { # err WHAT PATTERN YAML [ARGS...]: exit 2 and a message matching PATTERN
  local what=$1 pat=$2 y=$3 out rc
  shift 3
  set +e
  out=$("$BIN" generate "$y" -o "$T/bad" --image-config "$T/blobs" --pause-image "example.org/pause@$PAUSE" "$@" 2>&1)
  rc=$?
  set -e
  [ $rc = 2 ] || fail "$what: exit $rc, want 2 ($out)"
  grep -qE "$pat" <<<"$out" || fail "$what: message '$out' lacks /$pat/"
  echo "ok: $what: $out"
}
printf 'kind: Pod\nspec:\n  containers: [\n   - name: x\n' >"$T/bad1.yaml"
err "malformed YAML" "line [0-9]+" "$T/bad1.yaml"
printf 'kind: Frobnicator\nspec: {}\n' >"$T/bad2.yaml"
err "unknown kind" "kind Frobnicator is not a Pod" "$T/bad2.yaml"
sed 's|securityContext: {runAsUser: 0,|securityContext: {privileged: true, runAsUser: 0,|' "$T/pod.yaml" >"$T/bad3.yaml"
err "privileged container" "container b: privileged: true" "$T/bad3.yaml"
sed 's|    env:|    envFrom: [{configMapRef: {name: c}}]\n    env:|' "$T/pod.yaml" >"$T/bad4.yaml"
err "envFrom" "container a: envFrom" "$T/bad4.yaml"
sed 's|{name: cache, emptyDir: {}}|{name: cache, gitRepo: {repository: x}}|' "$T/pod.yaml" >"$T/bad5.yaml"
err "unknown volume kind" "volume cache: its kind" "$T/bad5.yaml"
printf 'a: &a [*a]\n' >"$T/bad6.yaml"
err "recursive alias" "." "$T/bad6.yaml"
sed "s|$APP|sha256:$(printf '%064d' 1)|g" "$T/pod.yaml" >"$T/bad7.yaml"
err "image not in the content store" "container a: image .*open" "$T/bad7.yaml"
cp "$T/blobs/${PAUSE#sha256:}" "$T/p.json"; printf ' ' >>"$T/blobs/${PAUSE#sha256:}"
err "a blob whose content does not match its digest" "content has digest" "$T/pod.yaml"
cp "$T/p.json" "$T/blobs/${PAUSE#sha256:}"
err "a bad --root-hash" "expected IMAGE=<64" "$T/pod.yaml" --root-hash x=12

# odd shapes (nulls, numbers, wrong types where lists or maps belong): a
# clear error (exit 2), never a crash or a policy
odd=0
for body in 'containers: [~]' 'containers: [{name: a, image: ~}]' 'containers: 7' \
  "containers: [{name: a, image: example.org/app@$APP, command: [~, 3], args: ~, env: [~, {name: ~}]}]" \
  "containers: [{name: a, image: example.org/app@$APP, securityContext: {capabilities: {drop: [~, 1], add: [~]}}}]" \
  "containers: [{name: a, image: example.org/app@$APP, securityContext: {capabilities: {add: [\"BAD CAP\"]}}}]" \
  "containers: [{name: a, image: example.org/app@$APP, volumeMounts: [~, {name: v}], livenessProbe: {exec: {command: ~}}}]" \
  "containers: [{name: a, image: example.org/app@$APP, volumeMounts: [{name: v, mountPath: /v}]}]
  volumes: [{name: v}]" \
  "containers: [{name: a, image: example.org/app@$APP}]
  securityContext: {runAsUser: x}" \
  "containers: [{name: a, image: example.org/app@$APP, securityContext: {runAsUser: -1}}]"; do
  printf 'kind: Pod\nspec:\n  %s\n' "$body" >"$T/odd.yaml"
  set +e
  out=$("$BIN" generate "$T/odd.yaml" -o "$T/odd" --image-config "$T/blobs" --pause-image "example.org/pause@$PAUSE" 2>&1)
  rc=$?
  set -e
  [ $rc = 2 ] || fail "odd pod spec '$body': exit $rc: $out"
  grep -q '^coffer-policy: ' <<<"$out" || fail "odd pod spec '$body': no message"
  echo "  odd: exit $rc ${out:0:160}"
  odd=$((odd + 1))
done
echo "ok: $odd odd pod specs are refused with a clear error"

# explain on the generated policy: container b as its rule says, then changed
cat >"$T/spec.json" <<'JSON'
{"ociVersion": "1.0.2", "root": {"path": "rootfs", "readonly": true},
 "process": {"args": ["/bin/sh", "-c", "echo $(PORT)"], "env": ["PATH=/bin", "LANG=C", "HOSTNAME=p"],
             "cwd": "/srv", "user": {"uid": 0, "gid": 0, "additionalGids": [0, 10, 3000, 4000]},
             "noNewPrivileges": true},
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}],
 "annotations": {"io.kubernetes.cri.container-name": "b", "io.kubernetes.cri.image-name": "IMG"}}
JSON
sed -i "s|IMG|example.org/app@$APP|" "$T/spec.json"
req() { jq --arg rh "$2" '{container_id: "b", spec: ., root_hash: $rh}' "$1"; } # the rootfs's verified hash
explain() { # explain REQUEST WANT_RC PATTERN
  local out rc
  set +e; out=$("$BIN" explain "$T/out/policy.json" "$1" 2>&1); rc=$?; set -e
  [ $rc = "$2" ] && grep -qE "$3" <<<"$out" || fail "explain $1: exit $rc (want $2): $out"
  echo "ok: explain: $out"
}
req "$T/spec.json" "$RH" >"$T/r-ok.json"
explain "$T/r-ok.json" 0 '^allowed: CreateContainer by rule containers\[2\]$'
req "$T/spec.json" "$(printf '%064d' 9)" >"$T/r-rh.json"
explain "$T/r-rh.json" 1 '\(rule containers\[2\]\.image\.root_hashes\)'
jq '.process.user.additionalGids += [6]' "$T/spec.json" | req /dev/stdin "$RH" >"$T/spec-grp.json"
explain "$T/spec-grp.json" 1 'additionalGids: 6 is not allowed \(rule containers\[2\]\.process\.groups\)'
jq '.process.user.additionalGids = [0, 10, 3000]' "$T/spec.json" | req /dev/stdin "$RH" >"$T/spec-grp2.json"
explain "$T/spec-grp2.json" 1 'lacks 4000 .*\(rule containers\[2\]\.process\.groups\)'
jq '.process.env += ["EXTRA=1"]' "$T/spec.json" | req /dev/stdin "$RH" >"$T/spec-env.json"
explain "$T/spec-env.json" 1 'EXTRA.*\(rule containers\[2\]\.process\.env\)'
jq '.process.noNewPrivileges = false' "$T/spec.json" | req /dev/stdin "$RH" >"$T/spec-nnp.json"
explain "$T/spec-nnp.json" 1 '\(rule containers\[2\]\.process\.no_new_privs\)'
echo '{"rpc": "WriteStdin"}' >"$T/rpc.json"
explain "$T/rpc.json" 1 '\(rule rpcs\.WriteStdin\)'
echo '[1,' >"$T/bad.json"
explain "$T/bad.json" 2 'not a JSON object'
echo "PASS: coffer-policy generate (unit)"
