#!/usr/bin/env bash
# registry.sh serves what critest's image-pull specs pull: every reference by
# tag, one image behind the three test-image-tags tags, distinct images where
# critest expects distinct ids, the users critest reads from image configs; on
# 127.0.0.1 only; and `stop` ends it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
W=$(mktemp -d /tmp/critest-reg.XXXXXX)
trap 'bash "$HERE/registry.sh" stop "$W"; rm -rf "$W"' EXIT
rc=0; bash "$HERE/registry.sh" start "$W" || rc=$?
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || fail "registry.sh start: $rc"
. "$W/env"
[[ $REGISTRY_ADDR == 127.0.0.1:* ]] || fail "registry not on loopback: $REGISTRY_ADDR"
S=k8s-staging-cri-tools
digest() { skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REGISTRY_ADDR/$1"; }
user() { skopeo inspect --tls-verify=false --config "docker://$REGISTRY_ADDR/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"].get("User", ""))'; }

while read -r _ ref; do digest "$ref" >/dev/null || fail "$ref is not served"; done <"$W/images/refs"
t1=$(digest $S/test-image-tags:1)
[ "$t1" = "$(digest $S/test-image-tags:2)" ] && [ "$t1" = "$(digest $S/test-image-tags:3)" ] ||
  fail "test-image-tags:1/2/3 are not one image"
[ "$(printf '%s\n' "$(digest $S/test-image-1)" "$(digest $S/test-image-2)" "$(digest $S/test-image-3)" "$t1" | sort -u | wc -l)" = 4 ] ||
  fail "test-image-1/2/3 and test-image-tags are not distinct images"
for u in uid:1002 username:www-data uid-group:1003:1004 username-group:www-data:1004; do
  got=$(user "$S/test-image-user-${u%%:*}")
  [ "$got" = "${u#*:}" ] || fail "test-image-user-${u%%:*}: user '$got', want '${u#*:}'"
done
# containerd's hosts files name this registry for every upstream critest pulls from
for h in gcr.io registry.k8s.io k8s.gcr.io; do
  grep -qF "server = \"http://$REGISTRY_ADDR\"" "$W/hosts/$h/hosts.toml" || fail "hosts.toml of $h does not name $REGISTRY_ADDR"
done
# the same bytes twice: the image layout is reproducible
python3 "$HERE/images.py" "$W/again" /bin/busybox
cmp -s "$W/images/oci/index.json" "$W/again/oci/index.json" || fail "images.py output differs between two runs"
bash "$HERE/registry.sh" stop "$W"
! curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 || fail "registry still serves after stop"
echo "PASS: $(wc -l <"$W/images/refs") references served on $REGISTRY_ADDR"
