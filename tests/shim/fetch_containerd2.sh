#!/usr/bin/env bash
# Extracts Debian sid's containerd 2.x (containerd, ctr) into DIR without
# installing it (DESIGN.md §4), once: later calls find it cached.
# Usage: fetch_containerd2.sh DIR   -> prints DIR/usr/bin when ready.
set -euo pipefail
dir=${1:?usage: fetch_containerd2.sh DIR}
if [ -x "$dir/root/usr/bin/containerd" ]; then echo "$dir/root/usr/bin"; exit 0; fi
mkdir -p "$dir/lists/partial" "$dir/pkg"
uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${uri:-http://deb.debian.org/debian} sid main" >"$dir/sources.list"
opts=(-o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$dir/lists")
apt-get -qq "${opts[@]}" update >/dev/null
(cd "$dir/pkg" && apt-get -qq "${opts[@]}" download containerd >/dev/null 2>&1)
dpkg -x "$dir"/pkg/containerd_*.deb "$dir/root.tmp"
mv "$dir/root.tmp" "$dir/root"
echo "$dir/root/usr/bin"
