#!/usr/bin/env bash
# Profiles a running benchmark: every process of a local cluster at once.
#
#   scripts/profile.sh [WORKLOAD] [CLIENTS] [SECONDS] [BENCH OPTIONS...]
#   (defaults: spread 64 6; e.g. `scripts/profile.sh mixed 128 6 --read-share 1`)
#
# Builds the `profiling` profile (release with line tables), starts
# `boxoffice up` in a throwaway directory, runs `boxoffice bench` and, in
# the middle of it, `perf record -a` with DWARF call graphs. Writes to
# ./profile-out: the bench's report, CPU samples per process, and one
# flamegraph per process (leader, a follower, payment, the load generator).
# Needs perf (Debian: linux-perf) and inferno (cargo install inferno).
set -euo pipefail
cd "$(dirname "$0")/.."

workload=${1:-spread}
clients=${2:-64}
seconds=${3:-6}
shift $(($# < 3 ? $# : 3))
out=$PWD/profile-out
bin=$PWD/target/profiling/boxoffice

command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }
command -v inferno-flamegraph >/dev/null || { echo "inferno is missing (cargo install inferno)" >&2; exit 1; }
cargo build --profile profiling --bin boxoffice

rm -rf "$out" && mkdir -p "$out"
data=$(mktemp -d)
setsid "$bin" up --data-dir "$data" >"$out/up.log" 2>&1 &
up=$!
trap 'kill -INT -- -$up 2>/dev/null || true; wait $up 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 120); do grep -q "is up" "$out/up.log" && break; sleep 0.5; done
grep -q "is up" "$out/up.log" || { cat "$out/up.log" >&2; exit 1; }
# The assistant trains its model after `up` says it is up; a profile taken
# then would be mostly that.
for _ in $(seq 1 120); do grep -q "chatbot serving" "$out/up.log" && break; sleep 0.5; done

# The process listening on a TCP port (from /proc/net/tcp and the fds).
pid_on_port() {
    local hex inode
    hex=$(printf '%04X' "$1")
    inode=$(awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" {print $10; exit}' /proc/net/tcp)
    for fd in /proc/[0-9]*/fd/*; do
        if [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ]; then
            echo "$fd" | cut -d/ -f3
            return
        fi
    done
}

"$bin" bench --workload "$workload" --clients "$clients" --seconds $((seconds + 8)) "$@" >"$out/bench.txt" 2>&1 &
bench=$!
sleep 4
perf record -a -F 999 --call-graph dwarf,16384 -o "$out/perf.data" -- sleep "$seconds" 2>/dev/null
wait $bench
cat "$out/bench.txt"

leader_port=$("$bin" cluster status --json | python3 -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]:
    if n["role"] == "leader":
        print(n["addr"].rsplit(":", 1)[1])')
# (The status names peer ports, 50071-50073; any port finds the process.)
follower_port=$((leader_port == 50071 ? 50072 : 50071))
declare -A pids=(
    [leader]=$(pid_on_port "$leader_port")
    [follower]=$(pid_on_port "$follower_port")
    [payment]=$(pid_on_port 6000)
    [bench]=$bench
)
perf script -i "$out/perf.data" -F pid 2>/dev/null | sort | uniq -c | sort -rn >"$out/samples-by-pid.txt"
total=$(awk '{s += $1} END {print s}' "$out/samples-by-pid.txt")
for role in "${!pids[@]}"; do
    pid=${pids[$role]}
    perf script -i "$out/perf.data" --pid "$pid" 2>/dev/null |
        inferno-collapse-perf --all >"$out/$role.folded"
    samples=$(awk -v p="$pid" '$2 == p {print $1}' "$out/samples-by-pid.txt")
    echo "$role: pid $pid, ${samples:-0} of $total samples"
    [ -s "$out/$role.folded" ] || continue
    inferno-flamegraph --title "$workload, $clients clients: $role (pid $pid)" --minwidth 0.2 \
        <"$out/$role.folded" >"$out/$workload-$role.svg"
done
echo "all samples by pid: $out/samples-by-pid.txt; flamegraphs: $out/*.svg"
