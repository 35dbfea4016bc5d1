#!/usr/bin/env bash
# Nodes the installer must refuse, each with a clear error and the node left
# exactly as it was (every file, mode and mtime under the fake root):
# a config that already defines a coffer runtime itself, an unversioned
# config, a read-only config dir, no containerd at all, an unsupported
# containerd; and a restart that fails puts the config and /opt/coffer back.
. "$(dirname "$0")/lib.sh"
make_fake_artifacts
export COFFER_HOST_ROOT=$R COFFER_ARTIFACTS=$A COFFER_NO_K8S=1 COFFER_CONTAINERD_VERSION=1.6.20 \
  COFFER_RESTART_CMD=true COFFER_CONTAINERD_WAIT=0 COFFER_LOCK_WAIT=5

# refuse "what" "expected message (ERE)": install fails, says so, changes nothing
refuse() {
  local what=$1 want=$2 before after out rc=0 state=${STATE_OF:-tree_state}
  before=$($state "$R")
  out=$(deploy install 2>&1) || rc=$?
  after=$($state "$R")
  [ $rc != 0 ] || fail "$what: install succeeded"
  echo "$out" | grep -qE "error: .*$want" || { echo "$out" >&2; fail "$what: no clear error matching '$want'"; }
  [ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after") >&2; fail "$what: the node changed"; }
  echo "$what: refused ($(echo "$out" | grep -E 'error:' | tail -1 | sed 's/.*error: //'))"
}

printf 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n' >"$T/base.toml"

log "a foreign coffer runtime table"
make_root "$T/base.toml"
printf '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.coffer]\n  runtime_type = "io.containerd.coffer.v2"\n' \
  >>"$R/etc/containerd/config.toml"
refuse "foreign coffer table" "already defines a coffer runtime"
printf "[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.'coffer-snp'.options]\n" >"$R/etc/containerd/config.toml.x"
{ echo 'version = 2'; cat "$R/etc/containerd/config.toml.x"; } >"$R/etc/containerd/config.toml"
rm "$R/etc/containerd/config.toml.x"
refuse "foreign coffer-snp table (single quotes)" "already defines a coffer runtime"

log "an unversioned config"
printf '[plugins.cri]\n  sandbox_image = "x"\n' >"$R/etc/containerd/config.toml"
refuse "unversioned config" "no top-level 'version' line"

log "a version 3 config on containerd 1.6"
printf 'version = 3\n' >"$R/etc/containerd/config.toml"
refuse "version 3 on 1.6" "reads version 2"

log "a read-only config dir"
cp "$T/base.toml" "$R/etc/containerd/config.toml"
mount --bind "$R/etc/containerd" "$R/etc/containerd" 2>/dev/null ||
  skip "cannot bind-mount (not root?) for the read-only case"
mount -o remount,bind,ro "$R/etc/containerd"
refuse "read-only config dir" "read-only mount"
umount "$R/etc/containerd"

log "no containerd on the node"
rm -rf "$R/etc/containerd"
refuse "no containerd config dir" "containerd config dir .* missing"
(unset COFFER_CONTAINERD_VERSION; refuse "no containerd binary and no version" "containerd not found")
mkdir -p "$R/etc/containerd"; cp "$T/base.toml" "$R/etc/containerd/config.toml"
COFFER_CONTAINERD_VERSION=1.5.9 refuse "containerd 1.5" "too old"

log "no /dev/kvm, no libvirt"
mv "$R/dev/kvm" "$T/kvm"
refuse "no /dev/kvm" "/dev/kvm missing"
mv "$T/kvm" "$R/dev/kvm"
mv "$R/run/libvirt/libvirt-sock" "$T/sock"
refuse "no libvirt socket" "no libvirt socket"
mv "$T/sock" "$R/run/libvirt/libvirt-sock"

log "a restart that fails: config and /opt/coffer put back (contents and modes)"
export STATE_OF=tree_content
COFFER_RESTART_CMD=false refuse "failed restart" "did not come back"
rm -rf "$R/opt/coffer"
COFFER_RESTART_CMD=false refuse "failed restart, no /opt/coffer before" "did not come back"
log "a failed artifact copy: config untouched, /opt/coffer put back"
mkdir -p "$R/opt/coffer/share"; : >"$R/opt/coffer/share/coffer"   # blocks share/coffer/
refuse "artifacts cannot be written" "installing artifacts failed"
rm -rf "$R/opt/coffer/share"
echo PASS
