#!/usr/bin/env bash
# Bearer-token auth against the real thing: Debian's docker-registry in
# `auth: token` mode (anonymous requests get 401 + a Bearer challenge), with
# token_server.py as its token service; skopeo pushes critest's busybox image
# through the same flow, then the guest pull fetches it.
#   test_pull_registry_token.sh IMAGE_TOOL
set -euo pipefail
TOOL=$1
HERE=$(cd "$(dirname "$0")" && pwd)
for t in docker-registry skopeo python3 curl openssl; do
  command -v $t >/dev/null || { echo "SKIP: $t missing (scripts/install-deps.sh)"; exit 77; }
done
python3 -c 'import cryptography' 2>/dev/null || { echo "SKIP: python3 cryptography missing"; exit 77; }
[ -x /bin/busybox ] || { echo "SKIP: /bin/busybox missing"; exit 77; }
W=$(mktemp -d /tmp/coffer-image-token.XXXXXX)
REG_PID="" TOK_PID=""
cleanup() {
  [ -z "$REG_PID" ] || kill "$REG_PID" 2>/dev/null || true
  [ -z "$TOK_PID" ] || kill "$TOK_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=coffer-token-issuer \
  -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
python3 "$HERE/token_server.py" "$W" coffer-test-issuer &
TOK_PID=$!
for _ in $(seq 50); do [ -f "$W/port" ] && break; sleep 0.1; done
TPORT=$(cat "$W/port")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$W/config.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/storage
http:
  addr: 127.0.0.1:$PORT
auth:
  token:
    realm: http://127.0.0.1:$TPORT/token
    service: coffer-registry
    issuer: coffer-test-issuer
    rootcertbundle: $W/cert.pem
YML
docker-registry serve "$W/config.yml" >"$W/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 50); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/" || true)
  [ "$code" = 401 ] && break
  sleep 0.1
done
[ "$code" = 401 ] || { cat "$W/registry.log"; echo "registry did not start in token mode"; exit 1; }
python3 "$HERE/../critest/images.py" "$W/images" /bin/busybox
REF=127.0.0.1:$PORT/k8s-staging-cri-tools/test-image-tag:test
timeout 120 skopeo copy --quiet --dest-tls-verify=false "oci:$W/images/oci:test-image-tag" "docker://$REF" ||
  { cat "$W/registry.log"; exit 1; }
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
check "the registry refuses an anonymous manifest request" \
  '[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PORT/v2/k8s-staging-cri-tools/test-image-tag/manifests/test")" = 401 ]'
: >"$W/requests"
mkdir "$W/root"
"$TOOL" pull --insecure "$REF" "$W/root" >"$W/out" 2>&1 || cat "$W/out"
check "pulled through the token flow: /bin/busybox byte for byte" 'cmp -s /bin/busybox "$W/root/bin/busybox"'
check "one token, for pull of the repository ($(cat "$W/requests"))" \
  '[ "$(wc -l <"$W/requests")" = 1 ] && grep -q "scope=repository%3Ak8s-staging-cri-tools%2Ftest-image-tag%3Apull" "$W/requests"'
exit "$fail"
