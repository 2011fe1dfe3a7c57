#!/usr/bin/env bash
# One client's latency at the leader, on a fresh local cluster:
#   scripts/one-client.sh [BINARY] [runs] [seconds]
# Starts `boxoffice up` in a throwaway data directory, waits for the
# assistant to finish training (it would share the CPU), finds the leader
# and runs `bench --workload spread --clients 1 --endpoints LEADER` `runs`
# times (default 2 of 5 s), printing each run's bookings and latency lines.
set -euo pipefail
bin=${1:-target/release/boxoffice}
runs=${2:-2}
seconds=${3:-5}
work=$(mktemp -d)
trap 'pkill -INT -f "up --data-dir $work/data" || true; sleep 2; rm -rf "$work"' EXIT
"$bin" up --data-dir "$work/data" > "$work/up.log" 2>&1 &
for _ in $(seq 60); do grep -q "chatbot serving" "$work/up.log" && break; sleep 1; done
if ! grep -q "chatbot serving" "$work/up.log"; then
  cat "$work/up.log" >&2
  exit 1
fi
# `up` gives node N the client port 50050 + N.
leader=127.0.0.1:$((50050 + $("$bin" cluster status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['leader_id'])")))
for _ in $(seq "$runs"); do
  "$bin" bench --workload spread --clients 1 --seconds "$seconds" --endpoints "$leader" 2>&1 |
    grep -E "bookings:|per booking"
done
