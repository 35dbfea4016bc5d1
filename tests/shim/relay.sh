#!/usr/bin/env bash
# The pod's broker relay through containerd, the shim and the agent (process
# backend: the agent's relay channel is a socketpair standing for the virtio
# port relay.0). Proves: with init-data naming a broker (aa.toml
# [token_configs.kbs] url) the shim serves the relay and a guest program's
# stream reaches that broker and no other; without init-data the config's
# relay_broker is used; a refused broker's reason reaches the guest; the
# relay ends with the pod; a pod with no broker has no relay.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x $PY ] || skip "python3 missing"
start_containerd

# An echo broker on loopback: "pong:" + what it reads, one connection at a time.
$PY - "$T/broker.port" <<'PYEOF' &
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept()
    d = c.recv(100)
    c.sendall(b"pong:" + d); c.close()
PYEOF
BROKER_PID=$!
trap 'rc=$?; set +e; kill $BROKER_PID 2>/dev/null; (exit $rc); lib_cleanup' EXIT
wait_for 5 test -s "$T/broker.port" || fail "broker did not start"
PORT=$(cat "$T/broker.port")

# dial SOCKET MESSAGE: as cf_relay_dial does (0x00, then a status byte)
dial() {
  $PY - "$1" "$2" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
s.sendall(b"\0")
st = s.recv(1)
if st != b"K":
    rest = b""
    while True:
        d = s.recv(300)
        if not d: break
        rest += d
    print("refused:", (st + rest)[1:].decode(errors="replace")); sys.exit(0)
s.sendall(sys.argv[2].encode())
out = b""
while True:
    d = s.recv(100)
    if not d: break
    out += d
print(out.decode())
PYEOF
}
# the guest pump's socket: the agent's --relay-socket
relay_socket() {
  local p
  for p in $(agent_pids); do
    tr '\0' '\n' <"/proc/$p/cmdline" | grep -A1 -- '--relay-socket' | tail -1
  done | head -1
}
enc() { gzip -c | base64 -w0; }
A=io.coffer.init-data

log "init-data names the broker: a guest stream reaches it"
printf 'version = "0.1.0"\nalgorithm = "sha256"\n\n[data]\n"aa.toml" = '"'''"'\n[token_configs.kbs]\nurl = "http://127.0.0.1:%s"\n'"'''"'\n' "$PORT" >"$T/id.toml"
# the config names another broker: init-data wins
sed "s|}\$|, \"relay_broker\": \"127.0.0.1:1\"}|" "$CONFIG" >"$T/other.json"
c run -d --runtime io.containerd.coffer.v2 --runtime-config-path "$T/other.json" \
  --annotation "$A=$(enc <"$T/id.toml")" $IMG t1 sleep 30
wait_for 10 test -n "$(relay_socket)" || fail "the agent runs no relay"
SOCK=$(relay_socket)
wait_for 5 test -S "$SOCK" || fail "no pump socket $SOCK"
out=$(dial "$SOCK" ping)
[ "$out" = "pong:ping" ] || fail "through the relay: '$out'"
grep -q "broker relay to http://127.0.0.1:$PORT (from the init-data aa.toml \[token_configs.kbs\] url)" \
  "$T/c/containerd.log" || fail "the shim did not log the init-data broker"
echo "ok: a guest stream reached the init-data's broker ($out)"
c task kill -s KILL t1; sleep 0.5; c task rm -f t1 >/dev/null 2>&1 || true; c c rm t1
wait_for 5 test ! -e "$SOCK" || fail "the pump socket outlived the pod"
echo "ok: the relay ended with the pod"

log "no init-data: the config's relay_broker; a refused broker's reason reaches the guest"
closed=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed "s|}\$|, \"relay_broker\": \"127.0.0.1:$closed\"}|" "$CONFIG" >"$T/closed.json"
c run -d --runtime io.containerd.coffer.v2 --runtime-config-path "$T/closed.json" $IMG t2 sleep 30
wait_for 10 test -n "$(relay_socket)" || fail "the agent runs no relay"
SOCK=$(relay_socket)
wait_for 5 test -S "$SOCK" || fail "no pump socket $SOCK"
out=$(dial "$SOCK" ping)
grep -q "refused: connect 127.0.0.1:$closed: Connection refused" <<<"$out" || fail "refusal: '$out'"
echo "ok: $out"
c task kill -s KILL t2; sleep 0.5; c task rm -f t2 >/dev/null 2>&1 || true; c c rm t2

log "no broker at all: no relay"
c run -d "${RT[@]}" $IMG t3 sleep 30
wait_for 10 test -n "$(agent_pids)" || fail "no agent"
sleep 0.5
[ -z "$(relay_socket)" ] || fail "a pod without a broker got a relay"
echo "ok: no broker, no relay"
c task kill -s KILL t3; sleep 0.5; c task rm -f t3 >/dev/null 2>&1 || true; c c rm t3
echo PASS
