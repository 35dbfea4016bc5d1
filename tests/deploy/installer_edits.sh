#!/usr/bin/env bash
# The installer's config edits for each containerd layout, each checked by
# the real containerd's `config dump` (Debian's 1.6; sid's 2.1 when it can be
# had), installed twice (= once) and cleaned up (= byte for byte the file
# before): no config file at all, a file without a final newline, 2.x
# imports on one line and over several lines, 2.2's conf.d import, k3s's
# config-v3.toml.d, and a subset of profiles.
. "$(dirname "$0")/lib.sh"
make_fake_artifacts
export COFFER_HOST_ROOT=$R COFFER_ARTIFACTS=$A COFFER_NO_K8S=1 \
  COFFER_RESTART_CMD=true COFFER_CONTAINERD_WAIT=0 COFFER_LOCK_WAIT=5
C16=$(command -v containerd || true)
C2=
if [ -n "${COFFER_TEST_NO_C2:-}" ]; then :; else
  C2=$( (sid_containerd2_root) 2>/dev/null | tail -1) || C2=
  [ -x "$C2/usr/bin/containerd" ] && C2=$C2/usr/bin/containerd || C2=
fi
[ -n "$C2" ] || echo "note: sid's containerd 2.1 unavailable; 2.x edits are checked as text only"

# dump BINARY FILE HANDLER...: the merged config names each handler
dump_has() {
  local bin=$1 f=$2 h; shift 2
  [ -n "$bin" ] || return 0
  "$bin" --config "$f" config dump >"$T/dump" 2>"$T/dump.err" ||
    { cat "$T/dump.err" >&2; fail "config dump of $f failed"; }
  for h in "$@"; do
    grep -qE "runtimes\\.$h\\]" "$T/dump" || fail "config dump of $f lacks runtimes.$h"
  done
}

# cycle NAME VERSION DUMP-BIN FILE-TO-CHECK HANDLERS: install, install again
# (no change), cleanup (every file as before), for the config in place.
cycle() {
  local name=$1 ver=$2 bin=$3 check=$4 handlers=$5 before once twice
  log "$name (containerd $ver)"
  before=$(tree_state "$R/etc"; tree_state "$R/var" 2>/dev/null || true)
  cp -a "$R/etc" "$T/etc.before"
  COFFER_CONTAINERD_VERSION=$ver deploy install 2>"$T/log" || { cat "$T/log" >&2; fail "$name: install"; }
  [ -z "${SHOW_DIFF:-}" ] || diff -ru "$T/etc.before" "$R/etc" | sed "s|$R||g" || true
  dump_has "$bin" "$R$check" $(echo "$handlers" | tr , ' ')
  once=$(tree_state "$R")
  COFFER_CONTAINERD_VERSION=$ver deploy install 2>"$T/log" || { cat "$T/log" >&2; fail "$name: second install"; }
  twice=$(tree_state "$R")
  [ "$once" = "$twice" ] || { diff <(echo "$once") <(echo "$twice") >&2; fail "$name: second install changed the node"; }
  grep -q "no restart" "$T/log" || fail "$name: second install restarted containerd"
  COFFER_CONTAINERD_VERSION=$ver deploy cleanup 2>"$T/log" || { cat "$T/log" >&2; fail "$name: cleanup"; }
  diff -r "$T/etc.before" "$R/etc" >&2 || fail "$name: cleanup did not restore /etc byte for byte"
  [ -z "$(ls -A "$R/opt/coffer")" ] || fail "$name: /opt/coffer not empty after cleanup"
  rm -rf "$T/etc.before"
  echo "$name: dump ok, second install a no-op, cleanup restored every byte"
}

SOCKDIR=$T/s   # config dump needs no daemon, but keep its paths private
make_root ""
rm -f "$R/etc/containerd/config.toml"
cycle "no config file (1.x creates one)" 1.7.2 "" /etc/containerd/config.toml coffer,coffer-snp,coffer-tdx
[ ! -e "$R/etc/containerd/config.toml" ] || fail "the created config survived cleanup"

log "the created file, as containerd 1.6 reads it"
COFFER_CONTAINERD_VERSION=1.6.20 deploy install 2>/dev/null
dump_has "$C16" "$R/etc/containerd/config.toml" coffer coffer-snp coffer-tdx runc
COFFER_CONTAINERD_VERSION=1.6.20 deploy cleanup 2>/dev/null

printf 'version = 2\nroot = "%s/root"\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "localhost/pause:latest"' "$SOCKDIR" \
  >"$R/etc/containerd/config.toml"     # no final newline
cycle "1.6, no final newline" 1.6.20 "$C16" /etc/containerd/config.toml coffer,coffer-snp,coffer-tdx,runc

printf 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n' \
  >"$R/etc/containerd/config.toml"
PROFILES=plain cycle "1.6, own runc, only the plain profile" 1.6.20 "$C16" /etc/containerd/config.toml coffer,runc
PROFILES=plain COFFER_CONTAINERD_VERSION=1.6.20 deploy install 2>/dev/null
grep -q 'coffer-snp' "$R/etc/containerd/config.toml" && fail "PROFILES=plain registered coffer-snp"
[ "$(grep -c 'runtimes.runc]' "$R/etc/containerd/config.toml")" = 1 ] || fail "a second runc table was added"
COFFER_CONTAINERD_VERSION=1.6.20 deploy cleanup 2>/dev/null

echo 'version = 3' >"$T/extra.toml"
printf 'version = 3\nimports = ["%s/extra.toml"]\n\n[plugins."io.containerd.cri.v1.images".pinned_images]\n  sandbox = "localhost/pause:latest"\n' "$T" \
  >"$R/etc/containerd/config.toml"
cycle "2.1, imports on one line" 2.1.9 "$C2" /etc/containerd/config.toml coffer,coffer-snp,coffer-tdx
COFFER_CONTAINERD_VERSION=2.1.9 deploy install 2>/dev/null
grep -qx "imports = \[\"$T/extra.toml\", \"$R/opt/coffer/containerd/config.d/coffer.toml\"\]" "$R/etc/containerd/config.toml" ||
  { cat "$R/etc/containerd/config.toml" >&2; fail "the existing import was not kept"; }
[ -z "$C2" ] || { "$C2" --config "$R/etc/containerd/config.toml" config dump 2>/dev/null | grep -q "localhost/pause:latest" ||
  fail "the main file's pinned pause image was lost"; }
COFFER_CONTAINERD_VERSION=2.1.9 deploy cleanup 2>/dev/null

printf 'version = 3\nimports = [\n  "%s/extra.toml",\n  "%s/extra.toml"\n]\n' "$T" "$T" >"$R/etc/containerd/config.toml"
cycle "2.0, imports over several lines" 2.0.5 "$C2" /etc/containerd/config.toml coffer,coffer-snp,coffer-tdx

mkdir -p "$R/etc/containerd/conf.d"
printf 'version = 3\nimports = ["%s/etc/containerd/conf.d/*.toml"]\n' "$R" >"$R/etc/containerd/config.toml"
cp "$R/etc/containerd/config.toml" "$T/main.toml"
COFFER_CONTAINERD_VERSION=2.2.0 deploy install 2>/dev/null
cmp -s "$T/main.toml" "$R/etc/containerd/config.toml" || fail "2.2 conf.d: the main file was edited"
[ -f "$R/etc/containerd/conf.d/coffer.toml" ] || fail "2.2 conf.d: no conf.d/coffer.toml"
COFFER_CONTAINERD_VERSION=2.2.0 deploy cleanup 2>/dev/null
cycle "2.2, conf.d imported already" 2.2.0 "$C2" /etc/containerd/config.toml coffer,coffer-snp,coffer-tdx

log "k3s: drop-in in config-v3.toml.d only"
K=/var/lib/rancher/k3s/agent/etc/containerd
rm -rf "$R/etc/containerd"; mkdir -p "$R$K"
printf 'version = 3\nimports = ["%s%s/config-v3.toml.d/*.toml"]\n' "$R" "$K" >"$R$K/config.toml"
printf '# a template the installer must never touch\n' >"$R$K/config-v3.toml.tmpl"
cp -a "$R$K" "$T/k3s.before"
K8S_DISTRIBUTION=k3s CONTAINERD_SOCKET=/run/k3s/containerd/containerd.sock COFFER_CONTAINERD_VERSION=2.0.4 \
  deploy install 2>/dev/null
cmp -s "$T/k3s.before/config.toml" "$R$K/config.toml" || fail "k3s: config.toml edited"
cmp -s "$T/k3s.before/config-v3.toml.tmpl" "$R$K/config-v3.toml.tmpl" || fail "k3s: the template was edited"
grep -q '^version = 3' "$R$K/config-v3.toml.d/coffer.toml" || fail "k3s: no versioned drop-in"
dump_has "$C2" "$R$K/config.toml" coffer coffer-snp coffer-tdx
K8S_DISTRIBUTION=k3s COFFER_CONTAINERD_VERSION=2.0.4 deploy cleanup 2>/dev/null
diff -r "$T/k3s.before" "$R$K" >&2 || fail "k3s: cleanup left changes"
echo "k3s: drop-in written and removed; config.toml and its template untouched"
printf 'version = 3\n' >"$R$K/config.toml"
out=$(K8S_DISTRIBUTION=k3s COFFER_CONTAINERD_VERSION=2.0.4 deploy install 2>&1) && fail "k3s without drop-in import: installed"
echo "$out" | grep -q "imports neither config-v3.toml.d nor config.toml.d" || { echo "$out" >&2; fail "k3s: unclear error"; }
[ -z "$(ls -A "$R/opt/coffer")" ] || fail "k3s refusal left files in /opt/coffer"
echo "k3s without a drop-in import: refused, nothing written"
echo PASS
