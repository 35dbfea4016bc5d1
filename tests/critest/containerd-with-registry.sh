#!/usr/bin/env bash
# containerd whose CRI plugin takes registry hosts from a hosts directory.
#
#   containerd-with-registry.sh HOSTS_DIR containerd-args...
#
# critest.sh installs a two-line `containerd` that runs this first on the PATH
# the critest harness (../shared/tools/critest/run.sh) starts containerd with:
# the harness writes containerd's config; this adds the CRI plugin's
# `registry.config_path` (registry.sh's hosts.toml files: gcr.io,
# registry.k8s.io and k8s.gcr.io served by the local registry) to the file
# named by --config, then runs Debian's containerd.
set -euo pipefail
hosts=$1; shift
cfg=""
args=("$@")
for ((i = 0; i < ${#args[@]} - 1; i++)); do
  [ "${args[i]}" = --config ] && cfg=${args[i + 1]}
done
[ -n "$cfg" ] && [ -f "$cfg" ] || { echo "containerd-with-registry.sh: no --config FILE in: $*" >&2; exit 1; }
if ! grep -qF 'plugins."io.containerd.grpc.v1.cri".registry]' "$cfg"; then
  printf '\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "%s"\n' "$hosts" >>"$cfg"
fi
exec /usr/bin/containerd "$@"
