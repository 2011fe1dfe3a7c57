#!/usr/bin/env bash
# Resident memory of real booking nodes as paid bookings accumulate:
#   scripts/node-memory.sh [BINARY] [rounds] [seconds] [bench options...]
# Starts a fresh local cluster (release build by default) in a throwaway
# data directory, runs `rounds` back-to-back benches of `seconds` each
# (64 clients, paid checkout; `--workload spread` unless options are
# given), and after each prints the bookings so far, the round's
# bookings/s and p99, and every node's VmRSS / VmHWM in MiB read from
# /proc. Defaults: 4 rounds of 130 s, about 1.1 M bookings. The memory
# target's shape, 1,000 shows of 1,000 seats all sold:
#   scripts/node-memory.sh target/release/boxoffice 1 1500 --workload fill
# (the options are added to `--clients 64 --seconds S`, so give neither).
set -euo pipefail
# shellcheck source=scripts/lib/cluster.sh
source "$(dirname "$0")/lib/cluster.sh"
bin=${1:-target/release/boxoffice}
rounds=${2:-4}
seconds=${3:-130}
shift $(( $# < 3 ? $# : 3 ))
workload=("$@")
[ ${#workload[@]} -gt 0 ] || workload=(--workload spread)
work=$(mktemp -d)
trap 'pkill -INT -f "up --data-dir $work/data" || true; sleep 2; rm -rf "$work"' EXIT

start_cluster "$bin" "$work"

memory() {
  for pid in $(pgrep -f "node --config $work/data" || true); do
    awk -v pid="$pid" '/VmRSS|VmHWM/ { v[$1] = int($2 / 1024) }
      END { printf " pid %s %d/%d MiB", pid, v["VmRSS:"], v["VmHWM:"] }' "/proc/$pid/status"
  done
}

total=0
for round in $(seq "$rounds"); do
  line=$("$bin" bench "${workload[@]}" --clients 64 --seconds "$seconds" --json 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); print(d['bookings'], round(d['bookings_per_s']), d['booking_latency']['p99_ms'])")
  read -r bookings rate p99 <<< "$line"
  total=$((total + bookings))
  echo "round $round: $total bookings, $rate/s, p99 ${p99} ms, resident/peak:$(memory)"
done
du -sh "$work/data"/node1/* 2>/dev/null | tr '\n' ' '; echo
# How long the leader's snapshot builds took, the last five.
grep -a "snapshot written" "$work/up.log" | tail -5
if [ -n "${SMAPS:-}" ]; then
  # The largest resident mappings of one node, to tell heap from files.
  pid=$(pgrep -f "node --config $work/data" | head -1)
  awk '/^[0-9a-f]+-/ { name = $6 } /^Rss:/ { if ($2 > 4096) printf "%8d KiB %s\n", $2, name }' \
    "/proc/$pid/smaps" | sort -rn | head -20
fi
