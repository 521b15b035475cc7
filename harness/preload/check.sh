#!/usr/bin/env bash
# harness/preload/check.sh CASE BUILD_DIR - libtslfault.so against tsl-echo
# as a black box, the way it is used against a server that is not ours.
#   storm     split, short writes, EINTR and EAGAIN on every connection:
#             tsl-load verifies every echoed byte.
#   fin_loss  connection 1's FIN never reaches the server: ka-expired.
#   bad_plan  a malformed TSL_FAULTS stops the server with status 2.
#   load_ends tsl-load's --end: each client that resets is a peer-reset to
#             the server, each that closes or half-closes a peer-closed.
#   recvmsg   a server that reads with recvmsg(2) (Python's socket.recvmsg)
#             gets its reads split by the plan as read(2) and recv(2) do.
set -u
case_=${1:?usage: check.sh CASE BUILD_DIR}
build=$(cd "${2:?usage: check.sh CASE BUILD_DIR}" && pwd)
shim=$build/harness/libtslfault.so
work=$(mktemp -d)
events=$work/events
srv=
trap '[[ -n $srv ]] && kill $srv 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL preload $case_: $*"; cat "$events" "$work/err" 2>/dev/null; exit 1; }
wait_event() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    grep -q -- "$1" "$events" && return 0
    sleep 0.05
  done
  return 1
}
start() {
  TSL_FAULTS=$1 LD_PRELOAD=$shim "$build/core/tsl-echo" --listen 127.0.0.1:0 \
    --events --ka-hold-ms 300 >"$events" 2>"$work/err" &
  srv=$!
  wait_event '"event":"listening"' 5 || fail "tsl-echo did not start"
  port=$(grep -o '"port":[0-9]*' "$events" | head -1 | cut -d: -f2)
}

case $case_ in
storm)
  start 'split=1..5,short=1..7,eintr=25,eagain=15,seed=11'
  "$build/harness/tsl-load" --server "127.0.0.1:$port" --clients 4 \
    --messages 200 --chunking random --seed 4 >"$work/load" ||
    fail "$(cat "$work/load")"
  ;;
fin_loss)
  start 'fin_loss@conn=1,seed=3'
  "$build/harness/tsl-load" --server "127.0.0.1:$port" --clients 1 \
    --messages 10 >"$work/load" || fail "$(cat "$work/load")"
  wait_event '"reason":"ka-expired"' 10 || fail "no ka-expired"
  ;;
load_ends)
  start 'seed=1'
  for end in reset close half-close; do
    "$build/harness/tsl-load" --server "127.0.0.1:$port" --clients 3 \
      --messages 5 --end $end >"$work/load" || fail "--end $end: $(cat "$work/load")"
  done
  for ((i = 0; i < 200; i++)); do
    (( $(grep -c '"event":"disconnected"' "$events") >= 9 )) && break
    sleep 0.05
  done
  resets=$(grep '"event":"disconnected"' "$events" | grep -c '"reason":"peer-reset"')
  closes=$(grep '"event":"disconnected"' "$events" | grep -c '"reason":"peer-closed"')
  [[ $resets -eq 3 && $closes -eq 6 ]] ||
    fail "$resets peer-reset and $closes peer-closed, expected 3 and 6"
  ;;
recvmsg)
  py=$(command -v python3) || fail "no python3"
  TSL_FAULTS='split=1,seed=2' LD_PRELOAD=$shim "$py" -c '
import socket
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept()
c.settimeout(10)
most, total = 0, 0
while True:
    data = c.recvmsg(4096)[0]
    if not data:
        break
    most, total = max(most, len(data)), total + len(data)
print("most", most, "total", total, flush=True)' >"$events" 2>"$work/err" &
  srv=$!
  wait_event '^[0-9]' 5 || fail "the recvmsg server did not start"
  port=$(head -1 "$events")
  "$py" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(bytes(range(64)))
s.close()' "$port" || fail "the client could not send"
  wait $srv || fail "the recvmsg server exited with $?"
  srv=
  grep -qx 'most 1 total 64' "$events" ||
    fail "recvmsg reads not split to 1 byte: $(tail -1 "$events")"
  echo "ok preload $case_"
  exit 0
  ;;
bad_plan)
  TSL_FAULTS='split=0' LD_PRELOAD=$shim "$build/core/tsl-echo" \
    --listen 127.0.0.1:0 >"$events" 2>"$work/err"
  status=$?
  [[ $status -eq 2 ]] || fail "status $status, expected 2"
  grep -q "libtslfault: bad TSL_FAULTS 'split=0'" "$work/err" ||
    fail "no clear message"
  echo "ok preload $case_"
  exit 0
  ;;
*) echo "unknown case $case_"; exit 2 ;;
esac
kill -TERM $srv
wait $srv || fail "tsl-echo exited with $?"
srv=
grep -q '"event":"stopped"' "$events" || fail "no clean stop"
echo "ok preload $case_"
