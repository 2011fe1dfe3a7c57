#!/usr/bin/env bash
# The reference point for `boxoffice bench`: PostgreSQL (Debian's package),
# fsync on, running the booking transaction of a ticket system with
# pgbench: take one seat where it is free, record the booking. Twice:
#
# - single: one server;
# - replicated: a primary and two streaming standbys on this machine,
#   a commit waiting for either standby to have flushed it
#   (synchronous_standby_names = 'ANY 1 (s1, s2)'), the durability a
#   3-node Raft cluster promises (a majority has the write on disk).
#
#   scripts/bench-postgres.sh [clients ...]     (default: 32 64)
#   MODES="single" scripts/bench-postgres.sh 64 (MODES: single, replicated)
#
# Starts throwaway servers in a temporary directory on free ports, as the
# `postgres` user, and removes them afterwards. Installs the Debian package
# if the server is missing (needs root). Prints one line per mode and
# client count, with the machine's busy CPU time per transaction (from
# /proc/stat, like `boxoffice bench`'s machine figure; keep the machine
# otherwise idle):
#   postgres mode=M clients=N tps=T latency_ms=L cpu_us_per_tx=C
set -euo pipefail

SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
SEATS="${SEATS:-1000000}"
MODES="${MODES:-single replicated}"
CLIENTS=("${@:-32 64}")
read -r -a CLIENTS <<<"${CLIENTS[*]}"

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -z "$PGBIN" || ! -x "$PGBIN/postgres" ]]; then
  apt-get install -y -qq postgresql >/dev/null
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

DIR=$(mktemp -d /tmp/bench-postgres.XXXXXX)
chmod 755 "$DIR"
[[ $(id -u) -eq 0 ]] && chown postgres "$DIR"
SERVERS=()
stop_all() {
  for data in "${SERVERS[@]}"; do
    as_pg "$PGBIN/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  done
  SERVERS=()
}
cleanup() {
  stop_all
  rm -rf "$DIR"
}
trap cleanup EXIT

# Durable like Boxoffice: fsync on, synchronous commit; sized for 2 cores.
COMMON="-c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on \
  -c max_connections=200 -c shared_buffers=256MB"

# start DATA PORT [extra options]
start() {
  local data=$1 port=$2
  shift 2
  as_pg "$PGBIN/pg_ctl" -D "$data" -l "$data.log" -w start -o "-p $port -k $DIR $COMMON $*" >/dev/null
  SERVERS+=("$data")
}

# Busy CPU ticks (USER_HZ, 100 a second) of the whole machine: the
# servers' backends and pgbench exit when the run ends, taking their own
# counts with them, so the run is charged the machine's busy time (keep
# the machine otherwise idle).
busy_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

schema() {
  psql -h 127.0.0.1 -p "$1" -U postgres -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE seats (show_id int, seat_no int, booked bool NOT NULL DEFAULT false,
                    PRIMARY KEY (show_id, seat_no));
CREATE TABLE bookings (id bigserial PRIMARY KEY, show_id int, seat_no int,
                       user_id int, created_at timestamptz DEFAULT now());
INSERT INTO seats SELECT s / 1000, s % 1000 FROM generate_series(0, $SEATS - 1) s;
VACUUM ANALYZE seats;
SQL
}

cat >"$DIR/book.sql" <<SQL
\set seat random(0, $SEATS - 1)
BEGIN;
UPDATE seats SET booked = true WHERE show_id = :seat / 1000 AND seat_no = :seat % 1000 AND NOT booked;
INSERT INTO bookings (show_id, seat_no, user_id) VALUES (:seat / 1000, :seat % 1000, :client_id);
COMMIT;
SQL

# run MODE PORT: pgbench at each client count against the server at PORT.
run() {
  local mode=$1 port=$2 clients out tps lat before after cpu
  for clients in "${CLIENTS[@]}"; do
    before=$(busy_ticks)
    out=$(pgbench -h 127.0.0.1 -p "$port" -U postgres -n -c "$clients" -j 2 \
      -T "$SECONDS_PER_RUN" -f "$DIR/book.sql" postgres 2>&1)
    after=$(busy_ticks)
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -1)
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out" | head -1)
    cpu=$(python3 -c "print(round(($after - $before) * 10000 / ($tps * $SECONDS_PER_RUN)))")
    echo "postgres mode=$mode clients=$clients tps=$tps latency_ms=$lat cpu_us_per_tx=$cpu"
  done
}

for mode in $MODES; do
  case "$mode" in
  single)
    port=$(free_port)
    as_pg "$PGBIN/initdb" -D "$DIR/single" -A trust -U postgres >/dev/null
    start "$DIR/single" "$port"
    schema "$port"
    run single "$port"
    stop_all
    ;;
  replicated)
    port=$(free_port)
    as_pg "$PGBIN/initdb" -D "$DIR/primary" -A trust -U postgres >/dev/null
    start "$DIR/primary" "$port" -c wal_level=replica -c max_wal_senders=10 \
      "-c synchronous_standby_names='ANY 1 (s1, s2)'"
    for standby in s1 s2; do
      as_pg pg_basebackup -h 127.0.0.1 -p "$port" -U postgres -D "$DIR/$standby" -R -X stream >/dev/null
      echo "primary_conninfo = 'host=127.0.0.1 port=$port user=postgres application_name=$standby'" |
        as_pg tee -a "$DIR/$standby/postgresql.auto.conf" >/dev/null
      start "$DIR/$standby" "$(free_port)" -c hot_standby=on
    done
    # Both standbys streaming, in the quorum, before the schema is made.
    for _ in $(seq 100); do
      n=$(psql -h 127.0.0.1 -p "$port" -U postgres -Atc \
        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = 'quorum'")
      [[ "$n" == 2 ]] && break
      sleep 0.1
    done
    [[ "$n" == 2 ]] || { echo "the standbys did not join the quorum" >&2; exit 1; }
    schema "$port"
    run replicated "$port"
    stop_all
    ;;
  *)
    echo "unknown mode $mode (single, replicated)" >&2
    exit 2
    ;;
  esac
done
