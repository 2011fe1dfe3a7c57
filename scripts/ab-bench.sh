#!/usr/bin/env bash
# A/B of two builds of boxoffice under one bench workload:
#   scripts/ab-bench.sh OLD_BINARY NEW_BINARY [rounds] [bench options...]
# Each round starts a fresh local cluster with each binary in turn (in a
# throwaway data directory), runs $RUNS benches (default 1) against it
# (default: `spread`, 64 clients, 30 s) and stops it. Prints per run:
#   A|B bookings/s booking_p99_ms reads/s read_p99_ms
set -euo pipefail
old=$1
new=$2
rounds=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
options=("$@")
[ ${#options[@]} -gt 0 ] || options=(--workload spread --clients 64 --seconds 30)
work=$(mktemp -d)
trap 'pkill -INT -f "up --data-dir $work/data" || true; rm -rf "$work"' EXIT

run() {
  local bin=$1 tag=$2
  rm -rf "$work/data"
  "$bin" up --data-dir "$work/data" > "$work/up.log" 2>&1 &
  for _ in $(seq 60); do grep -q "Boxoffice is up" "$work/up.log" && break; sleep 1; done
  for _ in $(seq "${RUNS:-1}"); do
    "$bin" bench "${options[@]}" --json 2>/dev/null |
      python3 -c "import json,sys; d=json.load(sys.stdin); print('$tag', round(d['bookings_per_s']), d['booking_latency']['p99_ms'], round(d['reads_per_s']), d['read_latency']['p99_ms'])"
  done
  pkill -INT -f "up --data-dir $work/data" || true
  wait || true
}

for _ in $(seq "$rounds"); do
  run "$old" A
  run "$new" B
done
