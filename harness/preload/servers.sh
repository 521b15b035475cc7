#!/usr/bin/env bash
# harness/preload/servers.sh SERVER PLAN BUILD_DIR - libtslfault.so on
# servers we did not write for it, each byte of every echo verified by
# tsl-load, and the shim's own count of what it injected checked, so a
# plan that silently did nothing fails too.
#
#   SERVER  python      harness/tests/fixtures/blocking_echo.py: blocking
#                       sockets, a thread per client, recv and sendall
#           socat       socat TCP4-LISTEN:...,fork PIPE (Debian's), a
#                       process per client, select and blocking read/write
#           tsl-echo    ours, non-blocking, select backend
#           tsl-echo-epoll  the same on the epoll backend
#   PLAN    coalesce | delay | eagain | storm | fin_loss
#   TSL_SEED  the plan's and tsl-load's seed (default 1)
#
# A blocking server must never see EAGAIN (the count of made-up EAGAINs is
# 0 there, and the server would drop the client otherwise); fin_loss loses
# the FIN of connection 1 only, which the server's own timeout catches
# (SO_RCVTIMEO, socat -T, keepalive), while connection 2 ends normally.
# Exit 77 (skipped) when python3 or socat is not installed.
set -u
server=${1:?usage: servers.sh SERVER PLAN BUILD_DIR}
plan_name=${2:?usage: servers.sh SERVER PLAN BUILD_DIR}
build=$(cd "${3:?usage: servers.sh SERVER PLAN BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
seed=${TSL_SEED:-1}
shim=$build/harness/libtslfault.so
load=$build/harness/tsl-load
work=$(mktemp -d)
out=$work/out
err=$work/err
srv=
plan=
trap '[[ -n $srv ]] && kill -KILL $srv 2>/dev/null; rm -rf "$work"' EXIT

fail() {
  echo "FAIL servers $server $plan_name: $*"
  echo "  fault plan: $plan"
  echo "  seed $seed; replay: TSL_SEED=$seed $0 $server $plan_name $build"
  echo "--- server stdout"; tail -n 20 "$out" 2>/dev/null
  echo "--- server stderr"; tail -n 30 "$err" 2>/dev/null
  exit 1
}

# wait_for FILE PATTERN SECONDS [COUNT]: until PATTERN occurs COUNT times.
wait_for() {
  local i n
  for ((i = 0; i < $3 * 20; i++)); do
    n=$(grep -c -- "$2" "$1" 2>/dev/null)
    ((${n:-0} >= ${4:-1})) && return 0
    sleep 0.05
  done
  return 1
}

# injected NAME: the sum of the shim's NAME counters over its processes.
injected() {
  grep 'libtslfault: pid .* injected' "$err" | grep -o " $1=[0-9]*" | awk -F= '{ s += $2 } END { print s + 0 }'
}

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || {
  echo "skipped: no python3"; exit 77; }
if [[ $server == socat ]] && ! command -v socat >/dev/null; then
  echo "skipped: socat is not installed (ci/deps.sh installs it)"; exit 77
fi

case $plan_name in
coalesce) plan="coalesce=200,seed=$seed" ;;
delay) plan="delay=3,jitter=4,seed=$seed" ;;
eagain) plan="eagain=30,split=1..64,seed=$seed" ;;
storm) plan="split=1..3,short=1..7,eintr=20,eagain=10,seed=$seed" ;;
fin_loss) plan="fin_loss@conn=1,seed=$seed" ;;
*) echo "unknown plan $plan_name"; exit 2 ;;
esac
hold=0 socat_t=()
[[ $plan_name == fin_loss ]] && hold=400 socat_t=(-T 1)

# Starts the server under the shim; sets srv and port.
start() {
  local tries
  export TSL_FAULTS=$plan TSL_FAULTS_LOG=1
  case $server in
  python)
    LD_PRELOAD=$shim "$py" "$here/../tests/fixtures/blocking_echo.py" \
      --hold-ms $hold >"$out" 2>"$err" &
    srv=$!
    wait_for "$out" '"event":"listening"' 10 || fail "the server did not start"
    port=$(grep -o '"port":[0-9]*' "$out" | head -1 | cut -d: -f2)
    ;;
  socat)
    # socat cannot say which port it took: pick one, and another if it
    # was taken meanwhile.
    for tries in 1 2 3; do
      port=$(free_port)
      LD_PRELOAD=$shim socat -d -d "${socat_t[@]}" \
        "TCP4-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" PIPE \
        >"$out" 2>"$err" &
      srv=$!
      wait_for "$err" 'listening on\|E bind' 10
      grep -q 'listening on' "$err" && break
      wait $srv 2>/dev/null
      srv=
    done
    [[ -n $srv ]] || fail "socat did not start"
    ;;
  tsl-echo | tsl-echo-epoll)
    local backend=select
    [[ $server == tsl-echo-epoll ]] && backend=epoll
    LD_PRELOAD=$shim "$build/core/tsl-echo" --listen 127.0.0.1:0 --events \
      --backend $backend --ka-hold-ms $((hold > 0 ? hold : 5000)) \
      >"$out" 2>"$err" &
    srv=$!
    wait_for "$out" '"event":"listening"' 10 || fail "the server did not start"
    port=$(grep -o '"port":[0-9]*' "$out" | head -1 | cut -d: -f2)
    ;;
  *) echo "unknown server $server"; exit 2 ;;
  esac
  unset TSL_FAULTS TSL_FAULTS_LOG
}

# Stops it with SIGTERM (5 s at most) and checks how it ended.
stop() {
  local i st
  kill -TERM $srv
  for ((i = 0; i < 100; i++)); do
    kill -0 $srv 2>/dev/null || break
    sleep 0.05
  done
  kill -0 $srv 2>/dev/null && fail "no exit within 5 s of SIGTERM"
  wait $srv
  st=$?
  srv=
  case $server in
  socat) ((st == 143)) || fail "socat exited with $st, not 143 (SIGTERM)" ;;
  *) ((st == 0)) || fail "exit status $st after SIGTERM" ;;
  esac
  [[ $server == tsl-echo* ]] && ! grep -q '"event":"stopped"' "$out" &&
    fail "no clean stop"
  # The counts are printed at exit; socat's children print theirs as
  # their connection ends.
  wait_for "$err" 'libtslfault: pid .* injected' 5 || fail "no counts"
}

run_load() { # CLIENTS MESSAGES SEED
  timeout 60 "$load" --server "127.0.0.1:$port" --clients "$1" \
    --messages "$2" --chunking random --seed "$3" --timeout-ms 10000 \
    >"$work/load" 2>&1 || fail "tsl-load: $(cat "$work/load")"
}

start
if [[ $plan_name != fin_loss ]]; then
  run_load 3 200 "$seed"
  [[ $server == socat ]] && wait_for "$err" 'injected' 10 3
  stop
  blocking=0
  [[ $server == python || $server == socat ]] && blocking=1
  case $plan_name in
  coalesce | delay)
    (($(injected held) > 0)) || fail "no receive was held back"
    ((blocking == 0 || $(injected waited) > 0)) ||
      fail "no blocking receive waited for held bytes"
    ;;
  eagain)
    (($(injected split) > 0)) || fail "no receive was split"
    ;;
  storm)
    (($(injected split) > 0 && $(injected short) > 0)) ||
      fail "no split receive or short write"
    [[ $server == python ]] && { (($(injected eintr) > 0)) ||
      fail "no EINTR, though Python's SIGINT handler could cause one"; }
    ;;
  esac
  if ((blocking)); then
    (($(injected eagain) == 0)) ||
      fail "EAGAIN made up on a blocking socket"
  elif [[ $plan_name == eagain || $plan_name == storm ]]; then
    (($(injected eagain) > 0)) || fail "no EAGAIN on a non-blocking server"
  fi
else
  run_load 1 20 "$seed"           # connection 1: its FIN is lost
  run_load 1 20 $((seed + 1))     # connection 2: ends normally
  case $server in
  python)
    wait_for "$out" '"client":2,"reason":"peer-closed"' 10 ||
      fail "connection 2 did not end with peer-closed"
    wait_for "$out" '"client":1,"reason":"ka-expired"' 10 ||
      fail "connection 1's lost FIN was not caught by SO_RCVTIMEO"
    ;;
  socat)
    wait_for "$err" 'is at EOF' 10 || fail "connection 2 saw no EOF"
    wait_for "$err" 'inactivity timeout triggered' 10 ||
      fail "connection 1's lost FIN was not caught by socat -T"
    ;;
  tsl-echo*)
    wait_for "$out" '"reason":"peer-closed"' 10 ||
      fail "connection 2 did not end with peer-closed"
    wait_for "$out" '"reason":"ka-expired"' 10 ||
      fail "connection 1's lost FIN was not caught by keepalive"
    ;;
  esac
  [[ $server == socat ]] && wait_for "$err" 'injected' 10 2
  stop
  (($(injected fin_lost) == 1)) || fail "fin_lost $(injected fin_lost), expected 1"
  # socat: exactly one of the two children saw its FIN.
  [[ $server == socat ]] && { (($(grep -c 'socket 1 (fd [0-9]*) is at EOF' "$err") == 1)) ||
    fail "both connections saw EOF"; }
fi
echo "ok servers $server $plan_name (seed $seed; injected:" \
  "split=$(injected split) short=$(injected short) eintr=$(injected eintr)" \
  "eagain=$(injected eagain) held=$(injected held) fin_lost=$(injected fin_lost))"
