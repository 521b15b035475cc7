#!/usr/bin/env bash
# harness/tests/proxy.sh SERVER CASE BUILD_DIR - tsl-proxy in front of a
# server it knows nothing about: every echoed byte verified by tsl-load
# through the proxy, the server's own view of each fault checked (its
# events), and the proxy's fault log checked for the faults the plan
# names, each line with its connection, direction, offset and seed.
#
#   SERVER  python (harness/tests/fixtures/blocking_echo.py), tsl-echo,
#           tsl-echo-epoll, socat (TCP4-LISTEN,fork PIPE)
#   CASE    split | coalesce | delay | bandwidth | slow_close: seeded
#           plans, 3 clients x 200 messages
#           bandwidth_sizes: at 100,000 B/s, one frame at a time of each
#           size around a write's cap (20 ms of bandwidth, 2,001 bytes),
#           every byte of each echo checked
#           half_close: a client that sends 20 frames and shuts its
#           writing side at once, behind delayed bytes: its FIN reaches
#           the server only after them, and every echo comes back before
#           the server's EOF
#           client_reset: a client that resets its connection (no fault
#           plan): the proxy ends it as client-reset, resetting the
#           server's side too
#           fin_loss | crash_silent | crash_reset: connection 1 only; the
#           server must catch it (its timeout or the reset), connection 2
#           ends normally
#           control: faults changed through --control on a live
#           connection (a reset now) and for the next one (a lost FIN);
#           plan, help and an unknown command answered
#   TSL_SEED  the seed (default 1)
# Exit 77 (skipped) without python3, or without socat for that server.
set -u
server=${1:?usage: proxy.sh SERVER CASE BUILD_DIR}
case_=${2:?usage: proxy.sh SERVER CASE BUILD_DIR}
build=$(cd "${3:?usage: proxy.sh SERVER CASE BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
seed=${TSL_SEED:-1}
proxy=$build/harness/tsl-proxy
load=$build/harness/tsl-load
work=$(mktemp -d)
sout=$work/server.out
serr=$work/server.err
pout=$work/proxy.out
plog=$work/proxy.log
srv= prx= plan=
trap '[[ -n $prx ]] && kill -KILL $prx 2>/dev/null; [[ -n $srv ]] && kill -KILL $srv 2>/dev/null; rm -rf "$work"' EXIT

fail() {
  echo "FAIL proxy $server $case_: $*"
  echo "  fault plan: $plan"
  echo "  seed $seed; replay: TSL_SEED=$seed $0 $server $case_ $build"
  echo "--- server"; tail -n 15 "$sout" "$serr" 2>/dev/null
  echo "--- proxy"; tail -n 15 "$pout" 2>/dev/null
  echo "--- fault log (last lines)"; tail -n 5 "$plog" 2>/dev/null
  exit 1
}

wait_for() { # FILE PATTERN SECONDS
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

logged() { # FAULT: how many fault lines of that kind
  grep -c "\"fault\":\"$1\"" "$plog" 2>/dev/null
}

py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || {
  echo "skipped: no python3"; exit 77; }
if [[ $server == socat ]] && ! command -v socat >/dev/null; then
  echo "skipped: socat is not installed (ci/deps.sh installs it)"; exit 77
fi

case $case_ in
split) plan="split=1..7,short=1..5,seed=$seed" ;;
coalesce) plan="coalesce=300,seed=$seed" ;;
delay) plan="delay=3,jitter=6,seed=$seed" ;;
bandwidth) plan="bandwidth=2000000,seed=$seed" ;;
bandwidth_sizes) plan="bandwidth=100000,seed=$seed" ;;
client_reset) plan="seed=$seed" ;;
half_close) plan="delay=100,seed=$seed" ;;
slow_close) plan="slow_close=150,seed=$seed" ;;
fin_loss) plan="fin_loss@conn=1,seed=$seed" ;;
crash_silent) plan="crash_silent=300@conn=1,seed=$seed" ;;
crash_reset) plan="crash_reset=300@conn=1,seed=$seed" ;;
control) plan="seed=$seed" ;;
*) echo "unknown case $case_"; exit 2 ;;
esac

# The server, with a 400 ms timeout for the cases that need one, 10 s
# for the others (a slow build must not expire a client mid-test).
hold=10000
[[ $case_ == fin_loss || $case_ == crash_silent || $case_ == control ]] &&
  hold=400
start_server() {
  local tries
  case $server in
  python)
    "$py" "$here/fixtures/blocking_echo.py" --hold-ms $hold >"$sout" \
      2>"$serr" &
    srv=$!
    wait_for "$sout" '"event":"listening"' 10 || fail "server did not start"
    sport=$(grep -o '"port":[0-9]*' "$sout" | head -1 | cut -d: -f2)
    ;;
  tsl-echo | tsl-echo-epoll)
    local b=select
    [[ $server == tsl-echo-epoll ]] && b=epoll
    "$build/core/tsl-echo" --listen 127.0.0.1:0 --events --backend $b \
      --ka-hold-ms $hold >"$sout" 2>"$serr" &
    srv=$!
    wait_for "$sout" '"event":"listening"' 10 || fail "server did not start"
    sport=$(grep -o '"port":[0-9]*' "$sout" | head -1 | cut -d: -f2)
    ;;
  socat)
    for tries in 1 2 3; do
      sport=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      socat -d -d -T $(((hold + 999) / 1000)) \
        "TCP4-LISTEN:$sport,bind=127.0.0.1,reuseaddr,fork" \
        PIPE >"$sout" 2>"$serr" &
      srv=$!
      wait_for "$serr" 'listening on\|E bind' 10
      grep -q 'listening on' "$serr" && break
      wait $srv 2>/dev/null
      srv=
    done
    [[ -n $srv ]] || fail "socat did not start"
    ;;
  *) echo "unknown server $server"; exit 2 ;;
  esac
}

start_proxy() {
  "$proxy" --listen 127.0.0.1:0 --upstream "127.0.0.1:$sport" \
    --faults "$plan" --log "$plog" --control 127.0.0.1:0 >"$pout" 2>&1 &
  prx=$!
  wait_for "$pout" '"event":"listening"' 10 || fail "proxy did not start"
  head -1 "$pout" | grep -q '^{"event":"listening"' ||
    fail "the proxy's first line is not its listening event"
  port=$(grep -o '"port":[0-9]*' "$pout" | head -1 | cut -d: -f2)
  cport=$(grep -o '"control":[0-9]*' "$pout" | head -1 | cut -d: -f2)
}

stop_all() {
  local i
  kill -TERM $prx
  for ((i = 0; i < 100; i++)); do kill -0 $prx 2>/dev/null || break; sleep 0.05; done
  kill -0 $prx 2>/dev/null && fail "proxy still running 5 s after SIGTERM"
  wait $prx || fail "proxy exited with $? after SIGTERM"
  prx=
  grep -q '"event":"stopped"' "$pout" || fail "proxy: no stopped event"
  kill -TERM $srv
  wait $srv 2>/dev/null
  srv=
}

load_ok() { # CLIENTS MESSAGES SEED
  timeout 60 "$load" --server "127.0.0.1:$port" --clients "$1" \
    --messages "$2" --chunking random --seed "$3" --timeout-ms 10000 \
    >"$work/load" 2>&1 || fail "tsl-load: $(cat "$work/load")"
}

load_fails() { # SEED: one client whose connection the plan breaks
  if timeout 60 "$load" --server "127.0.0.1:$port" --clients 1 \
    --messages 20 --seed "$1" --timeout-ms 1500 >"$work/load" 2>&1; then
    fail "connection 1 was served in full: $(cat "$work/load")"
  fi
}

# The server's view of connection N (its own numbering: python and
# tsl-echo number in accept order, as the proxy does).
server_saw() { # N REASON
  case $server in
  python) wait_for "$sout" "\"client\":$1,\"reason\":\"$2\"" 10 ;;
  tsl-echo*) wait_for "$sout" "\"id\":$1,.*\"reason\":\"$2\"" 10 ;;
  esac
}

# A raw client held open through the proxy (Python, stdin-driven), for
# the control case: prints "echoed" once its frame came back, then what
# ended it (reset, eof or timeout).
hold_client() {
  "$py" - "$port" >"$work/held" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"\x07\x00hello")  # a frame in the course's variable framing
got = b""
while len(got) < 7:
    got += s.recv(7 - len(got))
print("echoed", flush=True)
# Then a keepalive frame every 100 ms (tsl-echo keeps the client, the raw
# echo servers send it back), until the connection ends.
s.settimeout(0.1)
end = time.monotonic() + 20
try:
    while time.monotonic() < end:
        s.sendall(b"\x02\x00")
        try:
            if s.recv(100) == b"":
                print("eof", flush=True)
                sys.exit(0)
        except socket.timeout:
            pass
    print("timeout", flush=True)
except (ConnectionResetError, BrokenPipeError):
    print("reset", flush=True)
EOF
  held=$!
}

control() { # COMMAND: one line to the control socket, its first answer
  "$py" - "$cport" "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode() + b"\n")
f = s.makefile()
print(f.readline().strip())
EOF
}

start_server
start_proxy
case $case_ in
split | coalesce | delay | bandwidth | slow_close)
  load_ok 3 200 "$seed"
  case $case_ in
  split) want="split short" ;;
  *) want=$case_ ;;
  esac
  [[ $case_ == slow_close ]] && wait_for "$pout" '"conn":3,"reason"' 10
  for f in $want; do
    (($(logged "$f") > 0)) || fail "no $f in the fault log"
  done
  ;;
bandwidth_sizes)
  "$py" - "$port" >"$work/sizes" 2>&1 <<'EOF' || fail "$(cat "$work/sizes")"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
for size in range(1940, 2020):  # total frame bytes, header included
    frame = bytes([size & 0xff, size >> 8]) + bytes(
        (size * 7 + i) & 0xff for i in range(size - 2))
    s.sendall(frame)
    got = b""
    while len(got) < size:
        b = s.recv(size - len(got))
        if not b:
            sys.exit("EOF after %d of the %d-byte echo" % (len(got), size))
        got += b
    if got != frame:
        i = next(i for i in range(size) if got[i] != frame[i])
        sys.exit("the %d-byte echo differs from byte %d on" % (size, i))
print("80 sizes echoed")
EOF
  (($(logged bandwidth) > 0)) || fail "no bandwidth in the fault log"
  ;;
half_close)
  "$py" - "$port" "$seed" >"$work/half" 2>&1 <<'EOF' || fail "$(cat "$work/half")"
import random, socket, sys
rnd = random.Random(int(sys.argv[2]))
frames = []
for i in range(20):  # the course's variable framing: 2-byte length first
    size = rnd.randrange(3, 200)
    frames.append(bytes([size & 0xff, size >> 8]) +
                  bytes(rnd.randrange(256) for _ in range(size - 2)))
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"".join(frames))
s.shutdown(socket.SHUT_WR)  # the FIN right behind the bytes
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
want = b"".join(frames)
if got != want:
    sys.exit("%d of %d echoed bytes before the EOF (seed %s)" % (
        len(got), len(want), sys.argv[2]))
print("20 frames echoed before the EOF")
EOF
  (($(logged delay) > 0)) || fail "no delay in the fault log"
  ;;
client_reset)
  "$py" - "$port" >"$work/reset" 2>&1 <<'EOF' || fail "$(cat "$work/reset")"
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"\x07\x00hello")
got = b""
while len(got) < 7:
    b = s.recv(7 - len(got))
    if not b:
        sys.exit("EOF before the echo")
    got += b
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()  # an RST, not a FIN
EOF
  wait_for "$pout" '"event":"closed","conn":1,' 10 ||
    fail "the proxy did not end connection 1"
  grep -q '"event":"closed","conn":1,"reason":"client-reset"' "$pout" ||
    fail "connection 1 did not end as client-reset: $(grep '"closed"' "$pout")"
  ;;
fin_loss)
  load_ok 1 20 "$seed"
  load_ok 1 20 $((seed + 1))
  case $server in
  python | tsl-echo*)
    server_saw 2 peer-closed || fail "connection 2 did not end with peer-closed"
    server_saw 1 ka-expired || fail "connection 1's lost FIN was not caught"
    ;;
  socat)
    wait_for "$serr" 'inactivity timeout triggered' 10 ||
      fail "connection 1's lost FIN was not caught by socat -T"
    ;;
  esac
  wait_for "$pout" '"conn":1,"reason":"fin_loss-upstream-closed"' 10 ||
    fail "the proxy did not close connection 1 after the server did"
  (($(logged fin_loss) == 1)) || fail "fin_loss logged $(logged fin_loss) times"
  ;;
crash_silent | crash_reset)
  load_fails "$seed"
  load_ok 1 20 $((seed + 1))
  (($(logged "$case_") == 1)) || fail "$case_ logged $(logged "$case_") times"
  if [[ $case_ == crash_silent ]]; then
    case $server in
    python | tsl-echo*) server_saw 1 ka-expired ||
      fail "the silent crash was not caught by the server's timeout" ;;
    socat) wait_for "$serr" 'inactivity timeout triggered' 10 ||
      fail "the silent crash was not caught by socat -T" ;;
    esac
    wait_for "$pout" '"conn":1,"reason":"crash_silent-both-closed"' 10 ||
      fail "the proxy did not let go of connection 1"
  else
    case $server in
    python) server_saw 1 ECONNRESET || fail "the server saw no reset" ;;
    tsl-echo*) server_saw 1 peer-reset || fail "the server saw no reset" ;;
    socat) wait_for "$serr" 'Connection reset by peer' 10 ||
      fail "socat saw no reset" ;;
    esac
  fi
  [[ $server != socat ]] && { server_saw 2 peer-closed ||
    fail "connection 2 did not end with peer-closed"; }
  ;;
control)
  hold_client
  wait_for "$work/held" echoed 10 || fail "the held client got no echo"
  r=$(control "faults crash_reset=0@conn=1,fin_loss@conn=2,seed=$seed")
  [[ $r == ok\ * ]] || fail "control answered '$r'"
  wait_for "$work/held" reset 10 || fail "the live connection was not reset: $(cat "$work/held")"
  wait $held
  load_ok 1 20 $((seed + 1))
  case $server in
  python | tsl-echo*) server_saw 2 ka-expired ||
    fail "the FIN lost on connection 2 (set live) was not caught" ;;
  socat) wait_for "$serr" 'inactivity timeout triggered' 10 ||
    fail "the FIN lost on connection 2 was not caught by socat -T" ;;
  esac
  r=$(control "faults eintr=5")
  [[ $r == error\ * ]] || fail "a shim-only fault was accepted: '$r'"
  r=$(control "plan")
  [[ $r == "ok crash_reset=0@conn=1,fin_loss=0@conn=2,seed=$seed" ]] ||
    fail "plan answered '$r'"
  r=$(control "help")
  [[ $r == "ok commands: faults PLAN | plan | show | help" ]] ||
    fail "help answered '$r'"
  r=$(control "helpme")
  [[ $r == "error unknown command"* ]] || fail "helpme answered '$r'"
  ;;
esac
# Every fault line names its connection, direction, offset and seed.
if [[ -s $plog ]]; then
  bad=$(grep -vc '^{"event":"fault","conn":[0-9]*,"dir":"\(in\|out\)","fault":"[a-z_]*","offset":[0-9]*,"len":[0-9]*,"seed":'"$seed"'[,}]' "$plog")
  ((bad == 0)) || fail "$bad malformed fault log lines"
fi
stop_all
echo "ok proxy $server $case_ (seed $seed; $(wc -l <"$plog" 2>/dev/null || echo 0) faults logged)"
