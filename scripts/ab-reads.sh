#!/usr/bin/env bash
# A/B of linearizable read throughput between two builds of boxoffice:
#   scripts/ab-reads.sh OLD_BINARY NEW_BINARY [rounds]
# Each round starts a fresh local cluster with each binary in turn and
# runs three 10 s reads-only `mixed` benches against it (see ab-bench.sh).
# Prints "A|B bookings/s booking_p99_ms reads/s read_p99_ms" per run.
set -euo pipefail
RUNS=3 exec "$(dirname "$0")/ab-bench.sh" "$1" "$2" "${3:-2}" \
  --workload mixed --clients 128 --read-share 1 --seconds 10
