#!/usr/bin/env bash
# A/B of linearizable read throughput between two builds of boxoffice:
#   scripts/ab-reads.sh OLD_BINARY NEW_BINARY [rounds]
# Each round starts a fresh local cluster with each binary in turn (in a
# throwaway data directory), runs three 10 s reads-only `mixed` benches
# against it and stops it. Prints "A|B reads/s p99_ms" per run.
set -euo pipefail
old=$1
new=$2
rounds=${3:-2}
work=$(mktemp -d)
trap 'pkill -INT -f "up --data-dir $work/data" || true; rm -rf "$work"' EXIT

run() {
  local bin=$1 tag=$2
  rm -rf "$work/data"
  "$bin" up --data-dir "$work/data" > "$work/up.log" 2>&1 &
  for _ in $(seq 60); do grep -q "Boxoffice is up" "$work/up.log" && break; sleep 1; done
  for _ in 1 2 3; do
    "$bin" bench --workload mixed --clients 128 --read-share 1 --seconds 10 --json 2>/dev/null |
      python3 -c "import json,sys; d=json.load(sys.stdin); print('$tag', round(d['reads_per_s']), d['read_latency']['p99_ms'])"
  done
  pkill -INT -f "up --data-dir $work/data" || true
  wait || true
}

for _ in $(seq "$rounds"); do
  run "$old" A
  run "$new" B
done
