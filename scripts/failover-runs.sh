#!/usr/bin/env bash
# Repeated `failover` benches, each on a fresh local cluster:
#   scripts/failover-runs.sh BINARY [runs] [bench options...]
# Default bench: 16 clients, 60 s, 10 leader kills. Prints per run the
# longest write gap after each kill in ms (sorted), their median and
# max, the acknowledged bookings lost, the failed requests, and from the
# node logs how many split votes were broken and how many leaders were
# elected (one per kill plus the first is the ideal). With KEEP=DIR, each run's
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
  pkill -INT -f "up --data-dir $dir( |$)" || true
  # Nodes the bench restarted are not children of `up`.
  pkill -f "node --config $dir/" || true
  wait || true
  while pgrep -f "node --config $dir/" > /dev/null; do sleep 0.2; done
}
current=
trap '[ -z "$current" ] || stop "$current"; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

for i in $(seq "$runs"); do
  dir=$work/run$i
  current=$dir
  rm -rf "$dir"
  mkdir -p "$dir"
  "$bin" up --data-dir "$dir" > "$dir/up.log" 2>&1 &
  for _ in $(seq 60); do grep -q "Boxoffice is up" "$dir/up.log" && break; sleep 1; done
  grep -q "Boxoffice is up" "$dir/up.log" || { echo "run $i: the cluster did not come up, see $dir/up.log" >&2; exit 1; }
  # The progress bar goes to stderr; keep it for a failed run.
  "$bin" bench --workload failover --data-dir "$dir" "${options[@]}" --json 2> "$dir/bench.err" |
    python3 -c "
import json, sys
d = json.load(sys.stdin)
f = d['failover']
print('run $i: gaps', ' / '.join(str(round(g)) for g in f['gaps_ms']),
      'ms; median', round(f['median_gap_ms']), 'max', round(f['max_gap_ms']),
      'lost', f['lost'], 'bookings', d['bookings'], 'failed requests', sum(d['errors'].values()))"
  stop "$dir"
  echo "run $i: $(cat "$dir"/up.log "$dir"/node*.restarted.log 2>/dev/null | grep -c 'standing again') split votes broken, $(cat "$dir"/up.log "$dir"/node*.restarted.log 2>/dev/null | grep -c 'to=Leader') leaders elected"
  current=
done
