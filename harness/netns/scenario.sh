#!/usr/bin/env bash
# harness/netns/scenario.sh SCENARIO BUILD_DIR
#
# Real-kernel fault scenarios against tsl-echo, each inside a private
# network namespace made for it (unshare -n): only that namespace's own
# loopback is used, the host's network is never touched, and the namespace
# disappears with the process, so it is torn down even on failure.
#
#   fin_drop   nftables drops every FIN: the client's close never arrives;
#              the server must drop it by keepalive (ka-expired).
#   blackhole  the client is killed and its packets dropped, so neither FIN
#              nor RST arrives: keepalive again.
#   small_mtu  loopback MTU 300 forces real segmentation of 2 KB messages;
#              every echoed byte is verified by tsl-load.
#
# Exit 0 pass, 1 fail, 77 skipped (no CAP_NET_ADMIN, unshare, ip or nft).
set -u
scenario=${1:?usage: scenario.sh SCENARIO BUILD_DIR}
build=$(cd "${2:?usage: scenario.sh SCENARIO BUILD_DIR}" && pwd)
echo_bin=$build/core/tsl-echo
load_bin=$build/harness/tsl-load

if [[ ${TSL_IN_NETNS:-} != 1 ]]; then
  for t in unshare ip nft; do
    command -v "$t" >/dev/null || { echo "skipped: $t not found"; exit 77; }
  done
  if ! unshare -n true 2>/dev/null; then
    echo "skipped: cannot create a network namespace (needs CAP_NET_ADMIN)"
    exit 77
  fi
  TSL_IN_NETNS=1 exec unshare -n "$0" "$@"
fi

fail() { echo "FAIL $scenario: $*"; echo "--- tsl-echo events:"; cat "$events"; exit 1; }
# Polls for a line in the event log, up to $2 seconds.
wait_event() {
  local pat=$1 secs=$2 i
  for ((i = 0; i < secs * 20; i++)); do
    grep -q -- "$pat" "$events" && return 0
    sleep 0.05
  done
  return 1
}

ip link set lo up || { echo "skipped: cannot bring up lo"; exit 77; }
work=$(mktemp -d)
events=$work/events
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$work"' EXIT
"$echo_bin" --listen 127.0.0.1:0 --events --ka-hold-ms 500 >"$events" 2>&1 &
srv=$!
wait_event '"event":"listening"' 5 || fail "tsl-echo did not start"
port=$(grep -o '"port":[0-9]*' "$events" | head -1 | cut -d: -f2)

case $scenario in
fin_drop)
  nft add table inet tsl
  nft add chain inet tsl out '{ type filter hook output priority 0; }'
  nft add rule inet tsl out tcp dport "$port" 'tcp flags & fin == fin' drop
  "$load_bin" --server "127.0.0.1:$port" --clients 1 --messages 20 --seed 5 \
    >"$work/load" || fail "exchange failed: $(cat "$work/load")"
  wait_event '"event":"disconnected".*"reason":"ka-expired"' 10 ||
    fail "no ka-expired after the FIN was dropped"
  grep -q '"reason":"peer-closed"' "$events" && fail "a dropped FIN was seen"
  ;;
blackhole)
  # A client that sends one frame and then hangs around until killed.
  ( exec 3<>"/dev/tcp/127.0.0.1/$port"; printf '\007\000hello' >&3
    exec sleep 60 ) &
  client=$!
  wait_event '"event":"message"' 5 || fail "the client's frame never came"
  cport=$(grep -o '"client":"127.0.0.1:[0-9]*"' "$events" | head -1 |
          grep -o '[0-9]*"$' | tr -d '"')
  nft add table inet tsl
  nft add chain inet tsl in '{ type filter hook input priority 0; }'
  nft add rule inet tsl in tcp sport "$cport" drop
  kill -9 "$client"
  wait "$client" 2>/dev/null
  wait_event '"event":"disconnected".*"reason":"ka-expired"' 10 ||
    fail "no ka-expired for a black-holed peer"
  ;;
small_mtu)
  # Loopback would pass GSO super-packets whatever the MTU: cap them too.
  ip link set lo mtu 300
  ip link set dev lo gso_max_size 300 2>/dev/null
  segs() { awk '/^Tcp:/ {n++} n == 2 && /^Tcp:/ {print $12; exit}' /proc/net/snmp; }
  before=$(segs)
  "$load_bin" --server "127.0.0.1:$port" --clients 4 --messages 300 \
    --framing variable --chunking coalesce --seed 9 >"$work/load" ||
    fail "exchange over MTU 300 failed: $(cat "$work/load")"
  ip link show lo | grep -q "mtu 300" || fail "the MTU did not change"
  grep -q "4 passed, 0 failed" "$work/load" || fail "$(cat "$work/load")"
  after=$(segs)
  # About 2.4 MB crossed in each run; at most 260 bytes a segment that is
  # over 9000 segments.  Fewer means nothing was really split.
  (( after - before > 9000 )) ||
    fail "only $((after - before)) TCP segments: no real segmentation"
  echo "$(cat "$work/load"); $((after - before)) segments at MTU 300"
  ;;
*)
  echo "unknown scenario $scenario"; exit 2 ;;
esac
kill -TERM $srv
wait $srv || fail "tsl-echo exited with status $?"
grep -q '"event":"stopped"' "$events" || fail "tsl-echo did not stop cleanly"
echo "ok $scenario"
