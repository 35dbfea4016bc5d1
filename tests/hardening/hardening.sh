#!/usr/bin/env bash
# Every binary coffer ships is hardened: PIE (the agent a static PIE), full
# RELRO (GNU_RELRO + BIND_NOW), a non-executable stack, the stack protector
# and fortified libc calls linked in.   hardening.sh BINARY...
set -u
command -v readelf >/dev/null || { echo "SKIP: readelf missing"; exit 77; }
rc=0
for b in "$@"; do
  why=()
  hdr=$(readelf -h "$b") || { echo "FAIL: $b: not an ELF file"; rc=1; continue; }
  echo "$hdr" | grep -q 'Type:.*DYN' || why+=("not PIE")
  readelf -lW "$b" | grep -q GNU_RELRO || why+=("no RELRO")
  readelf -dW "$b" | grep -qE 'BIND_NOW|FLAGS_1.*NOW' || why+=("lazy binding (no BIND_NOW)")
  readelf -lW "$b" | grep GNU_STACK | grep -q RWE && why+=("executable stack")
  syms=$(nm "$b" 2>/dev/null; nm -D "$b" 2>/dev/null)
  echo "$syms" | grep -q __stack_chk_fail || why+=("no stack protector")
  echo "$syms" | grep -qE '__[a-z_]+_chk\b' || why+=("no fortified calls")
  if [ ${#why[@]} -gt 0 ]; then
    echo "FAIL: $b: ${why[*]}"
    rc=1
  else
    echo "ok: $b"
  fi
done
exit $rc
