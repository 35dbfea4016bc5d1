#!/usr/bin/env bash
# Starts and stops a private containerd (Debian's 1.6) for tests.
#
#   containerd.sh start DIR [--shim-dir PATH] [--coffer-config PATH]
#                           [--images-dir PATH] [--log-level LEVEL]
#   containerd.sh stop DIR [--purge]
#
# start: everything lives under DIR (root, state, sockets, log, runc state of
# CRI pods), so instances started concurrently (and a system containerd) do
# not collide. Shim sockets live in /run/containerd/s/<hash of address, ns,
# id>; the address differs per instance, so those do not collide either.
# ctr tasks use a namespace unique to the instance (CONTAINERD_NAMESPACE);
# CRI uses k8s.io with random ids. The CRI plugin serves the grpc socket with
# runtime handlers `runc` (default) and `coffer` (io.containerd.coffer.v2,
# io.coffer.* annotations passed through, options.ConfigPath = the coffer
# config from --coffer-config or $COFFER_CONFIG, if any). --shim-dir (or
# $COFFER_SHIM_DIR) goes first on containerd's PATH so it finds
# containerd-shim-coffer-v2 there. $COFFER_HARNESS_REGISTRY_HOSTS, when set,
# is CRI's registry.config_path (hosts.toml files: a registry's CA, plain
# HTTP). The test images (images.sh) are imported
# into CONTAINERD_NAMESPACE and k8s.io. Logs go to DIR/containerd.log.
# DIR/env (shell syntax, `. DIR/env`) holds what tests need:
#   CONTAINERD_ADDRESS CONTAINERD_NAMESPACE CONTAINERD_TTRPC_ADDRESS
#   CONTAINERD_PID CONTAINERD_LOG CONTAINERD_CONFIG CONTAINERD_ROOT
#   CONTAINERD_STATE CRI_ADDRESS COFFER_SHIM_DIR COFFER_CONFIG COFFER_IMAGES
# ctr reads CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE from the environment.
#
# stop: kills containerd, every shim it started (and their process trees),
# unmounts everything under DIR, removes the instance's shim sockets, runc
# state and empty cgroups. Safe to run twice. --purge also removes DIR.
# It also destroys the instance's coffer VMs (QEMU is libvirtd's child, not
# the shim's): domains whose state_dir lies under DIR or is the VM dir of one
# of the instance's tasks (<coffer state_dir>/<namespace>/<id>/vm), listed
# by `coffer-vmm list --json` ($COFFER_VMM_HELPER, else coffer-vmm on PATH;
# skipped silently when there is none).
set -euo pipefail

HARNESS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "containerd.sh: $*" >&2; exit 1; }

# A short namespace derived from DIR: stable for the instance, distinct
# between instances.
instance_namespace() { printf 'coffer-%s' "$(printf '%s' "$1" | sha256sum | cut -c1-10)"; }

toml_string() { # escapes a value for a TOML basic string
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

write_config() { # dir coffer_config log_level
  local dir=$1 coffer_config=$2 level=$3
  local cri='plugins."io.containerd.grpc.v1.cri"'
  cat <<EOF
version = 2
root = $(toml_string "$dir/root")
state = $(toml_string "$dir/state")
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = $(toml_string "$dir/containerd.sock")

[ttrpc]
  address = $(toml_string "$dir/containerd.sock.ttrpc")

[debug]
  level = $(toml_string "$level")

[$cri]
  restrict_oom_score_adj = true
  sandbox_image = "localhost/pause:latest"
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[$cri.cni]
  bin_dir = $(toml_string "$dir/cni/bin")
  conf_dir = $(toml_string "$dir/cni/net.d")

[$cri.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[$cri.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[$cri.containerd.runtimes.runc.options]
  Root = $(toml_string "$dir/runc")

[$cri.containerd.runtimes.coffer]
  runtime_type = "io.containerd.coffer.v2"
  pod_annotations = ["io.coffer.*"]
  container_annotations = ["io.coffer.*"]
EOF
  if [ -n "${COFFER_HARNESS_REGISTRY_HOSTS:-}" ]; then # hosts.toml files (CA, plain http)
    cat <<EOF

[$cri.registry]
  config_path = $(toml_string "$COFFER_HARNESS_REGISTRY_HOSTS")
EOF
  fi
  if [ -n "$coffer_config" ]; then
    cat <<EOF

[$cri.containerd.runtimes.coffer.options]
  ConfigPath = $(toml_string "$coffer_config")
EOF
  fi
}

write_env() { # dir ...: KEY=value pairs, quoted for the shell
  local dir=$1; shift
  local kv
  : > "$dir/env.tmp"
  for kv in "$@"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}" >> "$dir/env.tmp"
  done
  mv "$dir/env.tmp" "$dir/env"
}

start() {
  local dir=${1:?usage: containerd.sh start DIR [options]}; shift
  local shim_dir=${COFFER_SHIM_DIR:-} coffer_config=${COFFER_CONFIG:-}
  local images_dir="" level=info
  while [ $# -gt 0 ]; do
    case $1 in
      --shim-dir) shim_dir=${2:?}; shift 2 ;;
      --coffer-config) coffer_config=${2:?}; shift 2 ;;
      --images-dir) images_dir=${2:?}; shift 2 ;;
      --log-level) level=${2:?}; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  command -v containerd >/dev/null || die "containerd missing (apt-get install containerd)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local sock=$dir/containerd.sock
  # sun_path holds 108 bytes; the ttrpc socket name is the longest.
  [ ${#sock} -le 100 ] || die "DIR too long for a unix socket path: $sock (use a short temp dir)"
  [ -n "$shim_dir" ] && { shim_dir=$(cd "$shim_dir" && pwd) || die "no shim dir $shim_dir"; }
  [ -z "$coffer_config" ] || [ -f "$coffer_config" ] || die "no coffer config at $coffer_config"
  [ -z "$coffer_config" ] || coffer_config=$(realpath "$coffer_config")
  if [ -f "$dir/containerd.pid" ] && alive "$(cat "$dir/containerd.pid")"; then
    die "a containerd already runs for $dir (pid $(cat "$dir/containerd.pid")); stop it first"
  fi
  images_dir=${images_dir:-$dir/images}
  local images
  images=$("$HARNESS/images.sh" "$images_dir")

  mkdir -p "$dir/root" "$dir/state" "$dir/runc" "$dir/cni/bin" "$dir/cni/net.d"
  write_config "$dir" "$coffer_config" "$level" > "$dir/config.toml"
  local path=$PATH
  [ -n "$shim_dir" ] && path=$shim_dir:$PATH
  # setsid: containerd outlives neither `stop` nor the test, but must not get
  # the test's terminal signals.
  PATH=$path setsid containerd --config "$dir/config.toml" \
    >>"$dir/containerd.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" > "$dir/containerd.pid"

  local i
  for i in $(seq 1 200); do
    if ! alive "$pid"; then
      tail -n 20 "$dir/containerd.log" >&2
      die "containerd exited during start-up (log: $dir/containerd.log)"
    fi
    ctr --address "$sock" version >/dev/null 2>&1 && break
    sleep 0.05
  done
  ctr --address "$sock" version >/dev/null 2>&1 ||
    die "containerd did not answer on $sock within 10 s (log: $dir/containerd.log)"

  local ns
  ns=$(instance_namespace "$dir")
  "$HARNESS/images.sh" --import "$ns" "$sock" "$images"
  "$HARNESS/images.sh" --import k8s.io "$sock" "$images"

  write_env "$dir" \
    CONTAINERD_ADDRESS="$sock" \
    CONTAINERD_NAMESPACE="$ns" \
    CONTAINERD_TTRPC_ADDRESS="$sock.ttrpc" \
    CONTAINERD_PID="$pid" \
    CONTAINERD_LOG="$dir/containerd.log" \
    CONTAINERD_CONFIG="$dir/config.toml" \
    CONTAINERD_ROOT="$dir/root" \
    CONTAINERD_STATE="$dir/state" \
    CRI_ADDRESS="$sock" \
    COFFER_SHIM_DIR="$shim_dir" \
    COFFER_CONFIG="$coffer_config" \
    COFFER_IMAGES="$images"
  echo "$dir/env"
}

# True while pid exists and is not a zombie (an unreaped dead process).
alive() {
  local st
  read -r st 2>/dev/null < "/proc/$1/stat" || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ]
}

wait_gone() { # tries pid...
  local tries=$1 pid i; shift
  for pid in "$@"; do
    for ((i = 0; i < tries; i++)); do alive "$pid" || break; sleep 0.02; done
  done
}

# PARENT_OF[pid] = ppid for every process now.
declare -A PARENT_OF=()
load_parents() {
  PARENT_OF=()
  local stat pid rest ppid
  for stat in /proc/[0-9]*/stat; do
    pid=${stat#/proc/}; pid=${pid%/stat}
    read -r rest 2>/dev/null < "$stat" || continue
    rest=${rest##*) }            # drop "pid (comm) "; comm may hold spaces
    ppid=${rest#* }; ppid=${ppid%% *}
    PARENT_OF[$pid]=$ppid
  done
}

# True if $2 is $1 or one of its ancestors.
descends_from() { # pid ancestor
  local p=$1 n=0
  while [ -n "$p" ] && [ "$p" != 0 ] && [ $n -lt 512 ]; do
    [ "$p" = "$2" ] && return 0
    p=${PARENT_OF[$p]:-}; n=$((n + 1))
  done
  return 1
}

# Every process whose parent is one of the given pids, recursively.
descendants() {
  local -a queue=("$@")
  local -A seen=()
  local p pid
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}; queue=("${queue[@]:1}")
    for pid in "${!PARENT_OF[@]}"; do
      if [ "${PARENT_OF[$pid]}" = "$p" ] && [ -z "${seen[$pid]:-}" ]; then
        seen[$pid]=1; queue+=("$pid"); echo "$pid"
      fi
    done
  done
}

# Processes of this instance: shims (argv has `-address DIR/containerd.sock`)
# and anything else naming a path under DIR in its argv or running with its
# cwd there (a shim's cwd is its bundle) -- e.g. a shim's helper that
# daemonized away from the shim's process tree.
instance_processes() { # dir
  local dir=$1
  local p pid cwd args
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    # Never this script, its subshells or its callers (whose argv may name DIR).
    descends_from "$pid" $$ && continue
    descends_from $$ "$pid" && continue
    args=$( { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null ) || continue
    case $args in *"$dir/"*) echo "$pid"; continue ;; esac
    cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
    case $cwd in "$dir"/*) echo "$pid" ;; esac
  done
}

# coffer VMs of this instance (see the header); needs python3 for the JSON.
# The shim keeps a pod's VM state in <state_dir>/<namespace>/<pod id>/vm;
# ctr namespaces are per instance and CRI pod ids random, so namespace + pod
# id name the instance's pods (a pod id alone, like "t1", does not).
destroy_instance_vms() { # dir
  local dir=$1 helper=${COFFER_VMM_HELPER:-}
  [ -n "$helper" ] && [ -x "$helper" ] || helper=$(command -v coffer-vmm 2>/dev/null) || return 0
  command -v python3 >/dev/null || return 0
  local pods="" f name
  for f in "$dir"/state/io.containerd.runtime.v2.task/*/*; do
    [ -d "$f" ] && pods="$pods ${f#"$dir"/state/io.containerd.runtime.v2.task/}"
  done
  timeout 30 "$helper" list --json 2>/dev/null | python3 -c '
import json, sys
d, pods = sys.argv[1] + "/", sys.argv[2].split()
try:
    doms = json.load(sys.stdin)
except ValueError:
    doms = []
for x in doms:
    sd = x.get("state_dir") or ""
    if (sd + "/").startswith(d) or any(sd.endswith("/" + p + "/vm") and p.endswith("/" + str(x.get("pod_id")))
                                      for p in pods):
        print(x["name"])
' "$dir" "$pods" | while read -r name; do
    timeout 60 "$helper" destroy --name "$name" >/dev/null 2>&1 || true
  done
}

stop() {
  local dir=${1:?usage: containerd.sh stop DIR [--purge]} purge=""
  [ "${2:-}" = --purge ] && purge=1
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)

  local pid
  if [ -f "$dir/containerd.pid" ]; then
    pid=$(cat "$dir/containerd.pid")
    if alive "$pid" && grep -q containerd "/proc/$pid/comm" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait_gone 250 "$pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/containerd.pid"
  fi

  local shims victims
  load_parents
  shims=$(instance_processes "$dir" | sort -u)
  if [ -n "$shims" ]; then
    # Children first would race with the shim reaping and respawning nothing;
    # SIGKILL of the whole set at once is simplest.
    # shellcheck disable=SC2086
    victims="$shims $(descendants $shims)"
    # shellcheck disable=SC2086
    kill -KILL $victims 2>/dev/null || true
    # shellcheck disable=SC2086
    wait_gone 50 $victims
  fi
  destroy_instance_vms "$dir"

  # Shim sockets: each task's bundle records its shim's address. CRI tasks'
  # cgroups (k8s.io/<id>) would outlive a killed shim too.
  local f addr id cg
  for f in "$dir"/state/io.containerd.runtime.v2.task/*/*/address; do
    [ -f "$f" ] || continue
    addr=$(cat "$f"); addr=${addr#unix://}
    case $addr in /run/containerd/s/*) rm -f "$addr" ;; esac
  done
  for f in "$dir"/state/io.containerd.runtime.v2.task/k8s.io/*; do
    [ -d "$f" ] || continue
    id=${f##*/}
    for cg in /sys/fs/cgroup/*/k8s.io/"$id" /sys/fs/cgroup/k8s.io/"$id"; do
      [ -d "$cg" ] && rmdir "$cg" 2>/dev/null || true
    done
  done

  # Unmount everything under DIR, deepest first.
  local mnt
  awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r mnt; do
      mnt=$(printf '%b' "$mnt")   # mountinfo escapes spaces as \040
      umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
    done

  local ns
  ns=$(instance_namespace "$dir")
  rm -rf "/run/containerd/runc/$ns"
  # Empty cgroups left by runc for this instance's ctr namespace.
  for cg in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns"; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done

  if [ -n "$purge" ]; then
    rm -rf "$dir"
  fi
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) sed -n '2,30p' "$0" >&2; exit 2 ;;
esac
