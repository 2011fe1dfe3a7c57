#!/usr/bin/env bash
# One client's latency at the leader, on a fresh local cluster:
#   scripts/one-client.sh [BINARY] [runs] [seconds]
# Starts `boxoffice up` in a throwaway data directory, waits for the
# assistant to finish training (it would share the CPU), finds the leader
# and runs `bench --workload spread --clients 1 --endpoints LEADER` `runs`
# times (default 2 of 5 s), printing each run's bookings and latency lines.
set -euo pipefail
# shellcheck source=scripts/lib/cluster.sh
source "$(dirname "$0")/lib/cluster.sh"
bin=${1:-target/release/boxoffice}
runs=${2:-2}
seconds=${3:-5}
work=$(mktemp -d)
trap 'pkill -INT -f "up --data-dir $work/data" || true; sleep 2; rm -rf "$work"' EXIT
start_cluster "$bin" "$work"
leader=$(leader_address "$bin")
for _ in $(seq "$runs"); do
  "$bin" bench --workload spread --clients 1 --seconds "$seconds" --endpoints "$leader" 2>&1 |
    grep -E "bookings:|per booking"
done
