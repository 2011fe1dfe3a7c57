#!/usr/bin/env bash
# Repeated `failover` benches, each on a fresh local cluster:
#   scripts/failover-runs.sh BINARY [runs] [bench options...]
# Default bench: 16 clients, 60 s, 10 leader kills. Prints per run the
# longest write gap after each kill in ms (sorted), their median and
# max, and the acknowledged bookings lost. With KEEP=DIR, each run's
# data directory and logs (up.log, nodeN.restarted.log) stay in DIR/runN
# for reading the elections afterwards.
set -euo pipefail
bin=$(realpath "$1")
runs=${2:-3}
shift $(( $# < 2 ? $# : 2 ))
options=("$@")
[ ${#options[@]} -gt 0 ] || options=(--clients 16 --seconds 60 --kills 10)
work=${KEEP:-$(mktemp -d)}
mkdir -p "$work"

stop() {
  local dir=$1
  pkill -INT -f "up --data-dir $dir" || true
  # Nodes the bench restarted are not children of `up`.
  pkill -f "node --config $dir/" || true
  wait || true
}
trap 'stop "$work/run"; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

for i in $(seq "$runs"); do
  dir=$work/run$i
  rm -rf "$dir"
  mkdir -p "$dir"
  "$bin" up --data-dir "$dir" > "$dir/up.log" 2>&1 &
  for _ in $(seq 60); do grep -q "Boxoffice is up" "$dir/up.log" && break; sleep 1; done
  "$bin" bench --workload failover --data-dir "$dir" "${options[@]}" --json 2>/dev/null |
    python3 -c "
import json, sys
f = json.load(sys.stdin)['failover']
print('run $i: gaps', ' / '.join(str(round(g)) for g in f['gaps_ms']),
      'ms; median', round(f['median_gap_ms']), 'max', round(f['max_gap_ms']), 'lost', f['lost'])"
  stop "$dir"
done
