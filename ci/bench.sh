#!/usr/bin/env bash
# ci/bench.sh [SECONDS] - the fixed benchmark scenarios against tsl-echo
# (select, epoll, epoll+threaded) and three peers, the minimal epoll echo
# server, the minimal thread-per-connection echo server (the floor of the
# threaded model: `mthr`) and a libuv echo server (uv-echo, when libuv was
# found), in one run; prints one table with ratios to the minimal server, then the last
# recorded figures from bench/BASELINE.md.  Servers run pinned to CPU 0 and
# tsl-bench to CPU 1, so the load generator does not steal the server's
# core.  Not a test; not run in CI.  A few minutes.
#
# The figures count only if the load generator is not the bottleneck: the
# minimal server must reach MIN_MSGS msgs/s at MAX_CPU us of CPU or less
# per message at 50 conns x16 64B.  If it does not, the script says so
# under the table and exits 1 after printing everything.
#
# TSL_BUILD=DIR uses an already built tree instead of build/default.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${1:-3}
MIN_MSGS=1500000
MAX_CPU=0.8
b=${TSL_BUILD:-build/default}
if [[ -n ${TSL_BUILD:-} ]]; then
  [[ -x $b/bench/tsl-bench ]] || { echo "bench: $b/bench/tsl-bench is not built" >&2; exit 2; }
else
  [[ -x $b/bench/tsl-bench ]] || { cmake --preset default >/dev/null; cmake --build --preset default -j"$(nproc)"; }
fi
ulimit -n "$(ulimit -Hn)"

declare -A cmd=(
  [min]="$b/bench/min-epoll-echo PORT"
  [mthr]="$b/bench/min-thread-echo PORT"
  [uv]="$b/bench/uv-echo PORT"
  [select]="$b/core/tsl-echo --listen 127.0.0.1:PORT --backend select"
  [epoll]="$b/core/tsl-echo --listen 127.0.0.1:PORT --backend epoll"
  [threaded]="$b/core/tsl-echo --listen 127.0.0.1:PORT --backend epoll --threaded"
)
servers=(min mthr select epoll threaded)
if [[ -x $b/bench/uv-echo ]]; then
  servers=(min mthr uv select epoll threaded)
else
  echo "bench: no $b/bench/uv-echo (libuv1-dev missing?): column uv left empty" >&2
fi
port=$((10000 + RANDOM % 20000)) # below the ephemeral range
declare -A R

run() { # server scenario tsl-bench-args...
  local s=$1 sc=$2; shift 2
  port=$((port + 1))
  taskset -c 0 ${cmd[$s]//PORT/$port} >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.02; done
  local out
  # Bounded: tsl-bench stops after its seconds, and its sockets time out
  # on a stuck server; the timeout is the last resort.
  out=$(timeout 60 taskset -c 1 $b/bench/tsl-bench --server 127.0.0.1:$port --pid $pid --cpu 1 "$@" 2>&1 || true)
  kill $pid 2>/dev/null || true
  for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.02; done
  kill -9 $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  R[$s,$sc]=$out
}
val() { sed -n "s/.*\b$2=\([-0-9.]*\).*/\1/p" <<<"${R[$1]:-}"; }

# Scenario by scenario, every server in turn: the machine's drift (other
# load, TIME_WAIT sockets piling up) then weighs on all servers alike.
each() { for s in "${servers[@]}"; do run "$s" "$@"; done; }
each p1    --conns 1 --depth 1 --size 64 --seconds "$secs"
each p16   --conns 50 --depth 16 --size 64 --seconds "$secs"
each big   --conns 8 --depth 8 --size 4096 --seconds "$secs"
each rate  --mode connrate --seconds "$secs"
each idle1k --conns 1 --depth 1 --size 64 --idle 1000 --seconds "$secs"
each idle  --mode idle --conns 5000

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else printf "-" }'; }
printf '\n%-44s %10s %10s %10s %10s %10s %10s\n' "scenario (ratio to min-epoll-echo)" select epoll threaded uv mthr min
line() { # label scenario key
  local m; m=$(val "min,$2" "$3")
  printf '%-44s' "$1"
  for s in select epoll threaded uv mthr; do printf ' %10s' "$(ratio "$(val "$s,$2" "$3")" "$m")"; done
  printf ' %10s\n' "$m"
}
line "1 conn x1 64B: p50 latency (us)"           p1    p50_us
line "1 conn x1 64B: p99 latency (us)"           p1    p99_us
line "50 conns x16 64B: messages/s"              p16   msgs_per_s
line "50 conns x16 64B: server CPU us/message"   p16   server_cpu_us_per_msg
line "8 conns x8 4 KiB: MB/s"                    big   mb_per_s
line "connect+echo+close: connections/s"         rate  conns_per_s
line "connect+echo+close: server CPU us/conn"    rate  server_cpu_us_per_conn
line "1 active among 1000 idle: p50 (us)"        idle1k p50_us
line "1 active among 1000 idle: CPU us/message"  idle1k server_cpu_us_per_msg
line "5000 idle conns (1 echo each): RSS B/conn" idle bytes_per_conn
echo
# The memory target is in bytes, not a ratio to a server that keeps 32.
printf 'idle RSS bytes per connection kept (kept of 5000):'
for s in select epoll threaded uv mthr min; do printf ' %s %s (%s)' "$s" "$(val "$s,idle" bytes_per_conn)" "$(val "$s,idle" kept)"; done
echo
printf 'p50 with 1000 idle / p50 alone:'
for s in select epoll threaded uv mthr min; do printf ' %s %s' "$s" "$(ratio "$(val "$s,idle1k" p50_us)" "$(val "$s,p1" p50_us)")"; done
echo
# A thread per connection pays a context switch per read whatever it
# does: --threaded is also measured against that model's own floor.
printf 'threaded / min-thread-echo at 50x16: CPU/msg %s, msgs/s %s\n' \
  "$(ratio "$(val threaded,p16 server_cpu_us_per_msg)" "$(val mthr,p16 server_cpu_us_per_msg)")" \
  "$(ratio "$(val threaded,p16 msgs_per_s)" "$(val mthr,p16 msgs_per_s)")"

# The sanity line: a minimal server held back by the load generator makes
# every server look alike, and the ratios above then mean nothing.
mm=$(val min,p16 msgs_per_s) mc=$(val min,p16 server_cpu_us_per_msg)
sane=0
if awk -v m="$mm" -v c="$mc" -v M=$MIN_MSGS -v C=$MAX_CPU \
     'BEGIN { exit !(m != "" && c != "" && m + 0 >= M && c + 0 >= 0 && c + 0 <= C) }'; then
  printf 'sanity: min-epoll-echo at 50x16: %s msgs/s, %s us CPU/msg (>= %s, <= %s): the figures count\n' \
    "$mm" "$mc" "$MIN_MSGS" "$MAX_CPU"
else
  sane=1
  printf '\n*** sanity FAILED: min-epoll-echo at 50x16 reached %s msgs/s at %s us CPU/msg (needs >= %s and <= %s).\n' \
    "${mm:-?}" "${mc:-?}" "$MIN_MSGS" "$MAX_CPU"
  printf '*** The load generator (or a busy machine) is the bottleneck: THIS RUN'"'"'S FIGURES DO NOT COUNT.\n\n'
fi
echo
echo "Raw figures:"
for k in "${!R[@]}"; do echo "  $k: ${R[$k]}"; done | sort
echo
echo "Last recorded (bench/BASELINE.md):"
sed -n '/^| scenario/,/^$/p' bench/BASELINE.md
((sane == 0)) || echo "*** sanity FAILED (see under the table): this run's figures do not count."
exit $sane
