#!/usr/bin/env bash
# A local registry serving the images of critest's image-pull specs.
#
#   registry.sh start DIR    Debian's docker-registry on 127.0.0.1:<free port>, storage under
#                            DIR, the images of images.py pushed with skopeo; writes
#                            DIR/env (REGISTRY_ADDR, REGISTRY_PID, REGISTRY_HOSTS_DIR) and
#                            DIR/hosts/<registry>/hosts.toml, containerd's registry host
#                            configuration sending gcr.io, registry.k8s.io and k8s.gcr.io
#                            to it (containerd's CRI `registry.config_path`)
#   registry.sh stop DIR     stops it (the registry started by `start DIR` only)
#
# Exits 77 when docker-registry, skopeo or python3 are missing (scripts/install-deps.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UPSTREAMS=(gcr.io registry.k8s.io k8s.gcr.io)

die() { echo "registry.sh: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local D=$1
  local t
  for t in docker-registry skopeo python3 curl; do
    command -v $t >/dev/null || { echo "registry.sh: SKIP: $t missing (scripts/install-deps.sh)" >&2; exit 77; }
  done
  [ -x /bin/busybox ] || { echo "registry.sh: SKIP: /bin/busybox missing (busybox-static)" >&2; exit 77; }
  mkdir -p "$D"
  D=$(cd "$D" && pwd)
  [ ! -f "$D/env" ] || die "$D/env exists: a registry of $D runs already (registry.sh stop $D)"
  rm -rf "$D/storage" "$D/images" "$D/hosts"
  python3 "$HERE/images.py" "$D/images" /bin/busybox

  # a port picked free may be taken before the registry binds it: try a few
  local port pid="" try
  for try in 1 2 3 4 5; do
    port=$(free_port)
    cat >"$D/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $D/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
    setsid docker-registry serve "$D/config.yml" >"$D/registry.log" 2>&1 </dev/null &
    pid=$!
    local i
    for i in $(seq 50); do
      curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break 2
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  done
  [ -n "$pid" ] || die "docker-registry did not serve on 127.0.0.1 (see $D/registry.log)"
  printf 'REGISTRY_ADDR=127.0.0.1:%s\nREGISTRY_PID=%s\nREGISTRY_HOSTS_DIR=%s\n' \
    "$port" "$pid" "$D/hosts" >"$D/env"

  local marker ref
  while read -r marker ref; do
    timeout 120 skopeo copy --quiet --dest-tls-verify=false \
      "oci:$D/images/oci:$marker" "docker://127.0.0.1:$port/$ref" ||
      die "skopeo copy of $marker to 127.0.0.1:$port/$ref failed (see $D/registry.log)"
  done <"$D/images/refs"

  local u
  for u in "${UPSTREAMS[@]}"; do
    mkdir -p "$D/hosts/$u"
    cat >"$D/hosts/$u/hosts.toml" <<EOF
# critest's $u images come from the local registry (no network here)
server = "http://127.0.0.1:$port"

[host."http://127.0.0.1:$port"]
  capabilities = ["pull", "resolve"]
EOF
  done
  echo "registry.sh: serving $(wc -l <"$D/images/refs") references on 127.0.0.1:$port" >&2
}

stop() {
  local D=$1 pid
  [ -f "$D/env" ] || return 0
  pid=$(sed -n 's/^REGISTRY_PID=//p' "$D/env")
  # only our registry: the pid must still be a docker-registry serving our config
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$D/config.yml"; then
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$D/env"
}

case "${1:-}" in
start) start "${2:?usage: registry.sh start DIR}" ;;
stop) stop "${2:?usage: registry.sh stop DIR}" ;;
*) die "usage: registry.sh start|stop DIR" ;;
esac
