#!/usr/bin/env bash
# Proves the harness itself with containerd's own runc shim: images build and
# import, a private containerd answers, `ctr run` works, two instances run the
# same container id side by side without colliding, a CRI host-network pod
# runs a container and ExecSync returns its output and exit code, and `stop`
# leaves no process or mount behind.
# Usage: smoke.sh IMAGES_CACHE_DIR
set -euo pipefail
HARNESS=$(cd "$(dirname "$0")" && pwd)
CACHE=${1:?usage: smoke.sh IMAGES_CACHE_DIR}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (containerd, mounts)"
for b in containerd ctr runc umoci; do
  command -v $b >/dev/null || skip "$b missing (scripts/install-deps.sh)"
done
/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null ||
  skip "/usr/bin/python3 lacks grpc (apt-get install python3-grpcio python3-grpc-tools)"

D=$(mktemp -d /tmp/coffer-smoke.XXXXXX)
cleanup() {
  "$HARNESS/containerd.sh" stop "$D/a" || true
  "$HARNESS/containerd.sh" stop "$D/b" || true
  rm -rf "$D"
}
trap cleanup EXIT

"$HARNESS/containerd.sh" start "$D/a" --images-dir "$CACHE" >/dev/null
"$HARNESS/containerd.sh" start "$D/b" --images-dir "$CACHE" >/dev/null

# 1. ctr run with the default runc runtime.
out=$( . "$D/a/env"; ctr run --rm localhost/busybox:latest x echo hello )
[ "$out" = hello ] || fail "ctr run printed '$out', expected 'hello'"
echo "ok: ctr run --rm localhost/busybox:latest x echo hello"

# 2. The same container id in two instances at once.
( . "$D/a/env"; ctr run -d localhost/busybox:latest same sleep 600 >/dev/null )
( . "$D/b/env"; ctr run -d localhost/busybox:latest same sleep 600 >/dev/null )
for i in a b; do
  st=$( . "$D/$i/env"; ctr task ls | awk '$1 == "same" { print $3 }' )
  [ "$st" = RUNNING ] || fail "instance $i: task 'same' is '$st', expected RUNNING"
done
shim_a=$(pgrep -f -- "-address $D/a/containerd.sock" | head -1)
[ -n "$shim_a" ] || fail "no shim found for instance a"
"$HARNESS/containerd.sh" stop "$D/a"
alive=$(pgrep -a -f -- "$D/a/" || true)
[ -z "$alive" ] || fail "processes of instance a left after stop: $alive"
[ -z "$(awk -v d="$D/a/" 'index($5, d) == 1' /proc/self/mountinfo)" ] ||
  fail "mounts under $D/a left after stop"
st=$( . "$D/b/env"; ctr task ls | awk '$1 == "same" { print $3 }' )
[ "$st" = RUNNING ] || fail "stopping instance a disturbed instance b (task is '$st')"
echo "ok: two instances ran container 'same' side by side; stop a left b running"

# 3. CRI: host-network pod with the default (runc) handler, one container, ExecSync.
( . "$D/b/env"; /usr/bin/python3 - "$HARNESS" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
import cri
c = cri.Client(os.environ["CRI_ADDRESS"])
assert c.version().runtime_name == "containerd"
pod = c.run_pod("smoke", handler="")
ctr = c.create_container(pod, "main", "localhost/busybox:latest", ["sleep", "600"])
c.start_container(ctr)
st = c.container_status(ctr).status
assert st.state == cri.pb.CONTAINER_RUNNING, st
r = c.exec_sync(ctr, ["sh", "-c", "echo from-exec; echo err >&2; exit 7"])
assert r.stdout == b"from-exec\n", r.stdout
assert r.stderr == b"err\n", r.stderr
assert r.exit_code == 7, r.exit_code
assert [x.id for x in c.list_containers(pod)] == [ctr]
c.stop_pod(pod)
c.remove_pod(pod)
assert not c.list_pods(), c.list_pods()
print("ok: CRI pod (runc) ran a container; ExecSync returned stdout, stderr, exit 7")
PY
)

"$HARNESS/containerd.sh" stop "$D/b"
left=$(awk -v d="$D/" 'index($5, d) == 1' /proc/self/mountinfo)
[ -z "$left" ] || fail "mounts left after stop: $left"
left=$(pgrep -a -f -- "$D/" || true)
[ -z "$left" ] || fail "processes left after stop: $left"
echo "ok: stop left no process or mount"
