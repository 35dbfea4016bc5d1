#!/usr/bin/env bash
# The installer on a node whose containerd config is the distribution's own
# file (Debian 12's for containerd 1.6, Debian sid's for 2.1), with a real
# containerd running on it, restarted by the installer (COFFER_RESTART_CMD)
# and waited for through its socket:
#   install  -> `containerd config dump` shows coffer, coffer-snp, coffer-tdx;
#               CRI Status lists them; a CRI pod with handler coffer runs
#               (process backend: the agent as a host process)
#   install again -> nothing changes (no file, no mtime, no restart)
#   cleanup  -> the config is byte for byte the original, /opt/coffer is
#               empty, and the restarted containerd no longer knows coffer.
# Usage: containerd_node.sh SRC BUILD 1.6|2.1
. "$(dirname "$0")/lib.sh"
VER=${3:?containerd version 1.6 or 2.1}
[ "$(id -u)" = 0 ] || skip "needs root (containerd, mounts)"
/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null || skip "python3-grpcio / python3-grpc-tools missing"
SHIM=$BUILD/shim/containerd-shim-coffer-v2
AGENT=$BUILD/agent/coffer-agent
[ -x "$SHIM" ] && [ -x "$AGENT" ] || skip "shim or agent not built in $BUILD"
command -v runc >/dev/null || skip "runc missing"

case $VER in
  1.6) command -v containerd >/dev/null || skip "containerd 1.6 not installed"
       CBIN=$(dirname "$(command -v containerd)"); CTR=$(command -v ctr)
       ORIG=$(debian_containerd16_config) ;;
  2.1) C2=$(sid_containerd2_root)
       CBIN=$C2/usr/bin; CTR=$CBIN/ctr
       ORIG=$C2/etc/containerd/config.toml
       [ -f "$ORIG" ] || skip "sid's containerd package has no /etc/containerd/config.toml" ;;
  *) fail "unknown version $VER" ;;
esac
FULLVER=$("$CBIN/containerd" --version | awk '{print $3}')
log "containerd $FULLVER, distribution config $ORIG"

# The node's config: the distribution's file, plus what a private instance
# on a shared machine needs (own root, state, sockets; the pause image;
# restrict_oom_score_adj, as the test sandbox lacks CAP_SYS_RESOURCE).
make_root ""
SOCK=$R/run/containerd/containerd.sock
{
  echo "root = \"$R/var/lib/containerd\""
  echo "state = \"$R/run/containerd\""
  awk '{print} /^[ \t]*\[plugins\."io\.containerd\.grpc\.v1\.cri"\][ \t]*$/ {
         print "    sandbox_image = \"localhost/pause:latest\""
         print "    restrict_oom_score_adj = true"
         print "    stream_server_port = \"0\"" }' "$ORIG"
  printf '\n[grpc]\n  address = "%s"\n\n[ttrpc]\n  address = "%s.ttrpc"\n' "$SOCK" "$SOCK"
} >"$R/etc/containerd/config.toml"
cp -p "$R/etc/containerd/config.toml" "$T/node-config.toml"

# The artifacts: this build's shim and agent (process backend).
mkdir -p "$A/bin" "$A/share/coffer"
cp "$SHIM" "$AGENT" "$SRC/deploy/coffer-image-seed" "$A/bin/"
echo "not booted by the process backend" >"$A/share/coffer/vmlinux"
echo "not booted by the process backend" >"$A/share/coffer/initramfs.img"
STATE=/run/cfdp-${T##*.}

# containerd as the node runs it: (re)started by a script the installer calls.
cat >"$T/restart.sh" <<EOF
#!/bin/sh
set -e
if [ -f "$T/containerd.pid" ]; then
  p=\$(cat "$T/containerd.pid")
  kill -TERM "\$p" 2>/dev/null || true
  i=0; while kill -0 "\$p" 2>/dev/null && [ \$i -lt 100 ]; do sleep 0.05; i=\$((i+1)); done
fi
mkdir -p "$R/run/containerd"
PATH=$CBIN:/usr/sbin:/usr/bin:/sbin:/bin setsid "$CBIN/containerd" --config "$R/etc/containerd/config.toml" \
  >>"$T/containerd.log" 2>&1 </dev/null &
echo \$! >"$T/containerd.pid"
EOF
chmod +x "$T/restart.sh"
stop_containerd() {
  [ -f "$T/containerd.pid" ] || return 0
  local p; p=$(cat "$T/containerd.pid")
  kill -TERM "$p" 2>/dev/null; sleep 0.3; kill -KILL "$p" 2>/dev/null
  for f in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$f/cmdline" | grep -qE "$STATE/|$R/" && kill -9 "${f#/proc/}" 2>/dev/null
  done
  for f in "$R"/run/containerd/io.containerd.runtime.v2.task/*/*/address; do
    [ -f "$f" ] && rm -f "$(sed 's|^unix://||' "$f")"
  done
  awk -v s="$STATE" '$5 ~ "^"s {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  rm -rf "$STATE"
  return 0
}
CLEANUPS+=("stop_containerd")
containerd_log() { echo "--- containerd log:" >&2; grep -v ImageCreate "$T/containerd.log" | tail -25 | cut -c1-300 >&2; }

sh "$T/restart.sh"
for _ in $(seq 100); do "$CTR" --address "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
"$CTR" --address "$SOCK" version >/dev/null 2>&1 || { containerd_log; fail "containerd $VER did not start on the node config"; }
IMAGES=$(bash "$H/images.sh" "$BUILD/test-images")
"$CTR" --address "$SOCK" -n k8s.io images import "$IMAGES" >/dev/null

export COFFER_HOST_ROOT=$R COFFER_ARTIFACTS=$A COFFER_NO_K8S=1 COFFER_CONTAINERD_VERSION=$FULLVER \
  COFFER_RESTART_CMD="sh $T/restart.sh" COFFER_CONTAINERD_WAIT=30 COFFER_LOCK_WAIT=20 SHIM_BACKEND=process \
  SHIM_CONFIG_EXTRA="\"state_dir\": \"$STATE\", \"agent_timeout_ms\": 10000"

log "install"
deploy install 2>"$T/install1.log" || { cat "$T/install1.log" >&2; containerd_log; fail "install failed"; }
cat "$T/install1.log"
grep -q "containerd answers on $SOCK" "$T/install1.log" || fail "the installer did not wait for containerd's answer"
echo "--- the installer's diff of $R/etc/containerd/config.toml:"
diff -u "$T/node-config.toml" "$R/etc/containerd/config.toml" || true
for f in "$R"/opt/coffer/containerd/config.d/coffer.toml; do
  [ -f "$f" ] && { echo "--- drop-in $f:"; cat "$f"; }
done

grep -qF "\"image_seed\": \"$R/opt/coffer/bin/coffer-image-seed\"" "$R/opt/coffer/share/coffer/plain.json" ||
  { cat "$R/opt/coffer/share/coffer/plain.json" >&2; fail "the profile config does not name the installed image seed"; }
[ -x "$R/opt/coffer/bin/coffer-image-seed" ] || fail "coffer-image-seed not installed"

log "config dump"
runc_of() { awk '/^[ \t]*\[/ {on = ($0 ~ /runtimes\.runc[].]/)} on' "$1"; }
"$CBIN/containerd" --config "$T/node-config.toml" config dump >"$T/dump-before.toml" 2>/dev/null ||
  fail "config dump failed on the node's config"
"$CBIN/containerd" --config "$R/etc/containerd/config.toml" config dump >"$T/dump.toml" 2>/dev/null ||
  fail "config dump failed on the installed config"
for h in coffer coffer-snp coffer-tdx; do
  grep -qE "runtimes\\.$h\\]" "$T/dump.toml" || fail "config dump lacks runtimes.$h"
done
# (2.x dumps strings in single quotes)
grep -qE "runtime_(path|type) = [\"']$R/opt/coffer/bin/containerd-shim-coffer-v2[\"']" "$T/dump.toml" ||
  fail "config dump: no shim path"
grep -qE "ConfigPath = [\"']$R/opt/coffer/share/coffer/sev-snp.json[\"']" "$T/dump.toml" ||
  fail "config dump: no sev-snp ConfigPath"
# what the in-place edit must not lose (1.x imports would): the node's own settings
grep -q 'localhost/pause:latest' "$T/dump.toml" || fail "config dump lost the node's pause image"
grep -qE "[\"']/usr/lib/cni[\"']" "$T/dump.toml" || fail "config dump lost the node's cni bin_dir"
[ -n "$(runc_of "$T/dump-before.toml")" ] || fail "no runc runtime in the node's own config dump"
[ "$(runc_of "$T/dump.toml")" = "$(runc_of "$T/dump-before.toml")" ] ||
  { diff <(runc_of "$T/dump-before.toml") <(runc_of "$T/dump.toml") >&2; fail "the runc runtime changed"; }
echo "config dump: runtimes.coffer, coffer-snp, coffer-tdx present; runc, pause image, cni dirs kept"

log "CRI Status and a pod with handler coffer"
/usr/bin/python3 "$D/cri_check.py" "$H" "$SOCK" handlers coffer,coffer-snp,coffer-tdx ||
  { containerd_log; fail "CRI Status"; }
timeout 120 /usr/bin/python3 "$D/cri_check.py" "$H" "$SOCK" pod coffer || { containerd_log; fail "CRI pod"; }

log "install again: nothing changes"
before=$(tree_state "$R/etc"; tree_state "$R/opt")
pid_before=$(cat "$T/containerd.pid")
deploy install 2>"$T/install2.log" || { cat "$T/install2.log" >&2; fail "second install failed"; }
after=$(tree_state "$R/etc"; tree_state "$R/opt")
[ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after") >&2; fail "second install changed files"; }
[ "$(cat "$T/containerd.pid")" = "$pid_before" ] || fail "second install restarted containerd"
grep -q "no restart" "$T/install2.log" || fail "second install did not say it skipped the restart"
echo "second install: no file, mode or mtime changed; containerd not restarted"

log "cleanup"
deploy cleanup 2>"$T/cleanup.log" || { cat "$T/cleanup.log" >&2; containerd_log; fail "cleanup failed"; }
cat "$T/cleanup.log"
cmp "$T/node-config.toml" "$R/etc/containerd/config.toml" || fail "cleanup did not restore the config byte for byte"
[ -z "$(ls -A "$R/opt/coffer")" ] || fail "/opt/coffer not empty after cleanup: $(ls -A "$R/opt/coffer")"
ls "$R/etc/containerd" | grep -q coffer && fail "leftovers in $R/etc/containerd: $(ls "$R/etc/containerd")"
/usr/bin/python3 "$D/cri_check.py" "$H" "$SOCK" no-handlers coffer,coffer-snp,coffer-tdx ||
  { containerd_log; fail "CRI Status after cleanup"; }
echo "cleanup: config identical to the original, /opt/coffer empty, CRI has no coffer handler"
echo PASS
