#!/bin/bash
# measure_fetch_firmware.sh CACHE_DIR PACKAGE...
# Downloads Debian unstable's firmware packages (ovmf-amdsev, ovmf-inteltdx)
# without installing them: a private sources list for sid, `apt-get download`,
# `dpkg -x` into CACHE_DIR/<package>/. Prints the extracted roots, one a line.
# Exit 77 (with the reason on stderr) when the archive cannot be reached, so
# the tests calling it count as skipped.
set -euo pipefail

cache=${1:?usage: measure_fetch_firmware.sh CACHE_DIR PACKAGE...}
shift
[ $# -gt 0 ] || { echo "measure_fetch_firmware.sh: no package named" >&2; exit 2; }
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

skip() { echo "measure_fetch_firmware.sh: $*" >&2; exit 77; }

# Same mirror the machine uses for bookworm.
uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$uri" ] || uri=http://deb.debian.org/debian
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main" \
  > "$apt_dir/sid.list"
apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sid.list" -o Dir::Etc::sourceparts=-
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::archives=$apt_dir/archives"
          -o APT::Get::List-Cleanup=0 -q)

# One index refresh a day is enough; the packages change rarely.
stamp=$apt_dir/updated
if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440)" ]; then
  apt-get "${apt_opts[@]}" update >"$apt_dir/update.log" 2>&1 ||
    skip "cannot reach the Debian sid archive at $uri (apt-get update failed; see $apt_dir/update.log)"
  touch "$stamp"
fi

for pkg in "$@"; do
  ver=$(apt-cache "${apt_opts[@]}" show --no-all-versions "$pkg" 2>/dev/null |
        awk '/^Version:/ {print $2; exit}')
  [ -n "$ver" ] || skip "package $pkg is not in Debian sid"
  dest=$cache/$pkg
  if [ "$(cat "$dest/.version" 2>/dev/null)" != "$ver" ]; then
    work=$(mktemp -d "$cache/.dl.XXXXXX")
    (cd "$work" && apt-get "${apt_opts[@]}" download "$pkg" >download.log 2>&1) ||
      { rm -rf "$work"; skip "apt-get download $pkg failed"; }
    rm -rf "$dest"
    mkdir -p "$dest"
    dpkg -x "$work"/"${pkg}"_*.deb "$dest"
    echo "$ver" > "$dest/.version"
    rm -rf "$work"
  fi
  echo "$dest"
done
