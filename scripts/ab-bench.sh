#!/usr/bin/env bash
# A/B of two builds of boxoffice under one bench workload:
#   scripts/ab-bench.sh OLD_BINARY NEW_BINARY [rounds] [bench options...]
# Each round starts a fresh local cluster with each binary in turn (in a
# throwaway data directory), runs $RUNS benches (default 1) against it
# (default: `spread`, 64 clients, 30 s) and stops it. Prints per run:
#   A|B bookings/s booking_p99_ms reads/s read_p99_ms cpu_us_per_booking
# A_UP / B_UP add arguments to A's or B's `up` (e.g. B_UP=--tls), and
# A_BENCH / B_BENCH to its bench, where @DATA@ stands for the cluster's
# data directory (e.g. B_BENCH="--ca @DATA@/certs/ca.pem") and @LEADER@
# for the leader's client address (e.g. B_BENCH="--endpoints @LEADER@":
# every client at the leader, nothing forwarded).
set -euo pipefail
# shellcheck source=scripts/lib/cluster.sh
source "$(dirname "$0")/lib/cluster.sh"
old=$1
new=$2
rounds=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
options=("$@")
[ ${#options[@]} -gt 0 ] || options=(--workload spread --clients 64 --seconds 30)
work=$(mktemp -d)
trap 'pkill -INT -f "up --data-dir $work/data" || true; rm -rf "$work"' EXIT

run() {
  local bin=$1 tag=$2 up_extra=$3 bench_extra=${4//@DATA@/$work/data} leader
  rm -rf "$work/data"
  # shellcheck disable=SC2086 # the extra arguments are words
  start_cluster "$bin" "$work" $up_extra
  if [[ $bench_extra == *@LEADER@* ]]; then
    leader=$(leader_address "$bin")
    bench_extra=${bench_extra//@LEADER@/$leader}
  fi
  for _ in $(seq "${RUNS:-1}"); do
    # shellcheck disable=SC2086
    "$bin" bench "${options[@]}" $bench_extra --json 2>/dev/null |
      python3 -c "import json,sys; d=json.load(sys.stdin); c=d.get('cpu') or {}; print('$tag', round(d['bookings_per_s']), d['booking_latency']['p99_ms'], round(d['reads_per_s']), d['read_latency']['p99_ms'], round(c.get('per_booking_us') or 0))"
  done
  pkill -INT -f "up --data-dir $work/data" || true
  wait || true
}

for _ in $(seq "$rounds"); do
  run "$old" A "${A_UP:-}" "${A_BENCH:-}"
  run "$new" B "${B_UP:-}" "${B_BENCH:-}"
done
