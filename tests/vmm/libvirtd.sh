#!/usr/bin/env bash
# Start or stop the machine's libvirtd + virtlogd for tests (no systemd here).
#
#   tests/vmm/libvirtd.sh start   idempotent; returns once `virsh version` answers
#                                 and virtlogd runs with its socket
#   tests/vmm/libvirtd.sh stop    stops the daemons only if `start` launched them
#                                 and no coffer domain is still running; virtlogd
#                                 only when no libvirtd is left
#   tests/vmm/libvirtd.sh status
#
# libvirtd is one per machine (its state under /run/libvirt is global), so a
# private instance per test is not possible; tests share this one.
# A privileged libvirtd reads /etc/libvirt/qemu.conf only (no override flag),
# and Debian 12's libvirt-daemon ships none: without `user`/`group` = root,
# QEMU would run as a user that does not exist here and every create stalls
# while libvirt re-probes QEMU (DESIGN.md §4). So this script writes those two
# keys into /etc/libvirt/qemu.conf idempotently (creating it if absent).
# libvirt 9.0 also looks up its compiled-in default user `libvirt-qemu` before
# reading qemu.conf and refuses to start the QEMU driver when it is missing
# (Debian's libvirt-daemon-system would create it; it is not installed), so
# the system user and group are created here if absent.
# Exit 77 when libvirtd/virsh are not installed.
set -euo pipefail

URI=${COFFER_LIBVIRT_URI:-qemu:///system}
MARK=/run/coffer-test-libvirtd
QEMU_CONF=/etc/libvirt/qemu.conf
WAIT_S=${LIBVIRTD_WAIT_S:-60}

need() {
  for b in libvirtd virtlogd virsh; do
    command -v "$b" >/dev/null 2>&1 || { echo "SKIP: $b not installed"; exit 77; }
  done
}

answers() { timeout 30 virsh -c "$URI" version >/dev/null 2>&1; }

ensure_qemu_user() {
  getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
  getent passwd libvirt-qemu >/dev/null ||
    useradd --system --no-create-home -g libvirt-qemu -s /usr/sbin/nologin -d /var/lib/libvirt libvirt-qemu
}

ensure_qemu_conf() {
  mkdir -p "$(dirname "$QEMU_CONF")"
  touch "$QEMU_CONF"
  local key
  for key in user group; do
    if ! grep -qE "^[[:space:]]*$key[[:space:]]*=[[:space:]]*\"root\"" "$QEMU_CONF"; then
      if grep -qE "^[[:space:]]*$key[[:space:]]*=" "$QEMU_CONF"; then
        sed -i -E "s|^[[:space:]]*$key[[:space:]]*=.*|$key = \"root\"|" "$QEMU_CONF"
      else
        echo "$key = \"root\"   # coffer tests: no libvirt-qemu user here" >>"$QEMU_CONF"
      fi
    fi
  done
}

# pid_alive PID NAME: the pid runs and is that daemon (pid files go stale).
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && [ "$(cat /proc/"$1"/comm 2>/dev/null)" = "$2" ]; }

# virtlogd must run whenever libvirtd does (QEMU's logs go through it; without
# it every create fails with "Failed to connect socket to
# '/run/libvirt/virtlogd-sock'"), even when someone else started libvirtd.
VIRTLOGD_SOCK=/run/libvirt/virtlogd-sock
virtlogd_ok() { pid_alive "$(cat /run/virtlogd.pid 2>/dev/null)" virtlogd && [ -S "$VIRTLOGD_SOCK" ]; }
ensure_virtlogd() {
  virtlogd_ok && return 0
  local pid
  pid=$(cat /run/virtlogd.pid 2>/dev/null || true)
  if pid_alive "$pid" virtlogd; then   # alive but its socket is gone: useless
    kill "$pid"
    for _ in $(seq 50); do pid_alive "$pid" virtlogd || break; sleep 0.1; done
  fi
  rm -f /run/virtlogd.pid
  mkdir -p "$MARK" /var/log/libvirt/qemu
  virtlogd -d 9>&-   # not our lock fd: the daemon would hold the lock forever
  for _ in $(seq 50); do virtlogd_ok && break; sleep 0.1; done
  virtlogd_ok || { echo "virtlogd did not start ($VIRTLOGD_SOCK missing)" >&2; exit 1; }
  cat /run/virtlogd.pid >"$MARK/virtlogd.pid"
}

# QEMU is a grandchild of libvirtd that outlives its parent, so its zombie
# goes to the nearest subreaper. Without systemd, that is whatever PID 1 is,
# and a PID 1 that reaps late keeps a powered-off guest's QEMU a zombie:
# libvirt waits for it under the domain's lock, and each pod's teardown took
# 1.2-1.8 s more here. tini -s (Debian's tini) reaps it at once; libvirtd runs
# in the foreground under it (it still writes /run/libvirtd.pid).
start_libvirtd() {
  if command -v tini >/dev/null; then
    setsid tini -s -- libvirtd 9>&- </dev/null >>/var/log/libvirt/libvirtd.out 2>&1 &
  else
    libvirtd -d 9>&-
  fi
}

start() {
  need
  if answers; then
    ensure_virtlogd
    echo "libvirtd already answers on $URI"
    return 0
  fi
  ensure_qemu_user
  ensure_qemu_conf
  mkdir -p "$MARK" /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/cache/libvirt/qemu
  ensure_virtlogd
  if ! pid_alive "$(cat /run/libvirtd.pid 2>/dev/null)" libvirtd; then
    rm -f /run/libvirtd.pid
    start_libvirtd
    for _ in $(seq 50); do pid_alive "$(cat /run/libvirtd.pid 2>/dev/null)" libvirtd && break; sleep 0.1; done
    cat /run/libvirtd.pid >"$MARK/libvirtd.pid"
  fi
  local t0=$SECONDS
  until answers; do
    if ((SECONDS - t0 > WAIT_S)); then
      echo "libvirtd did not answer on $URI within ${WAIT_S}s" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "libvirtd answers on $URI after $((SECONDS - t0))s"
}

stop_one() { # name
  local f=$MARK/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if pid_alive "$pid" "$1"; then
    kill "$pid"
    for _ in $(seq 100); do pid_alive "$pid" "$1" || break; sleep 0.1; done
  fi
  rm -f "$f"
}

stop() {
  [ -f "$MARK/libvirtd.pid" ] || { echo "libvirtd was not started by this script: left running"; return 0; }
  if answers && virsh -c "$URI" list --name 2>/dev/null | grep -q '^coffer-'; then
    echo "coffer domains still run: libvirtd left running"
    return 0
  fi
  stop_one libvirtd
  # never leave a libvirtd (ours, if it would not die, or anyone's) without virtlogd
  if pgrep -x libvirtd >/dev/null; then
    echo "a libvirtd still runs: virtlogd left running"
    return 0
  fi
  stop_one virtlogd
  rm -rf "$MARK"
}

# One caller at a time (tests, quickstart and operators share the daemons).
mkdir -p "$(dirname "$MARK")"
exec 9>"$MARK.lock"
flock 9

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) need; answers && echo running || { echo "not answering"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
