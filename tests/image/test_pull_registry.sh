#!/usr/bin/env bash
# Guest pull from a real registry: Debian's docker-registry on 127.0.0.1,
# serving critest's busybox images pushed by skopeo (tests/critest/registry.sh).
# Pulled by tag and by digest, with and without a pin; the unpacked rootfs
# holds /bin/busybox byte for byte, its symlink and the image's marker.
#   test_pull_registry.sh IMAGE_TOOL
set -euo pipefail
TOOL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
REGSH=$HERE/../critest/registry.sh
W=$(mktemp -d /tmp/coffer-image-reg.XXXXXX)
cleanup() { bash "$REGSH" stop "$W/reg" || true; rm -rf "$W"; }
trap cleanup EXIT
rc=0
bash "$REGSH" start "$W/reg" || rc=$?
[ "$rc" -eq 0 ] || exit "$rc" # 77: docker-registry or skopeo missing
. "$W/reg/env"
REF=$REGISTRY_ADDR/k8s-staging-cri-tools/test-image-tag:test
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

mkdir "$W/a"
"$TOOL" pull --insecure "$REF" "$W/a" >"$W/a.out" 2>&1 || { cat "$W/a.out"; exit 1; }
cat "$W/a.out"
check "by tag: /bin/busybox byte for byte" 'cmp -s /bin/busybox "$W/a/bin/busybox"'
check "by tag: bin/sh is the image's symlink" '[ "$(readlink "$W/a/bin/sh")" = busybox ]'
check "by tag: the marker layer" 'grep -qx test-image-tag "$W/a/test-image-tag"'
check "by tag: /tmp mode 1777" '[ "$(stat -c %a "$W/a/tmp")" = 1777 ]'
check "config defaults: Cmd sh, PATH" 'grep -qx "cmd sh" "$W/a.out" && grep -q "^env PATH=" "$W/a.out"'
DIGEST=$(sed -n 's/^manifest //p' "$W/a.out")
check "the tag resolved to a digest" '[[ $DIGEST == sha256:* ]]'

mkdir "$W/b"
"$TOOL" pull --insecure "${REF%:test}@$DIGEST" "$W/b" >"$W/b.out" 2>&1 || cat "$W/b.out"
check "by digest: same tree" 'diff -r --no-dereference "$W/a" "$W/b" >/dev/null'

mkdir "$W/c"
check "a matching pin" '"$TOOL" pull --insecure --pin "$DIGEST" "$REF" "$W/c" >/dev/null 2>&1'
mkdir "$W/d"
OTHER=$REGISTRY_ADDR/k8s-staging-cri-tools/test-image-latest:latest
if "$TOOL" pull --insecure --pin "$DIGEST" "$OTHER" "$W/d" >"$W/d.out" 2>&1; then
  check "another image under the pin is refused" false
else
  check "another image under the pin is refused ($(cat "$W/d.out"))" 'grep -q "pinned digest is $DIGEST" "$W/d.out"'
fi
mkdir "$W/e"
if "$TOOL" pull --insecure "$REGISTRY_ADDR/k8s-staging-cri-tools/no-such-image:1" "$W/e" >"$W/e.out" 2>&1; then
  check "a missing image is an error" false
else
  check "a missing image is an error ($(cat "$W/e.out"))" 'grep -q "HTTP 404" "$W/e.out"'
fi
exit "$fail"
