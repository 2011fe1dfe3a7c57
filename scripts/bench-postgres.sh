#!/usr/bin/env bash
# The reference point for `boxoffice bench`: PostgreSQL (Debian's package),
# one node, fsync on, running the booking transaction of a ticket system
# with pgbench: take one seat where it is free, record the booking.
#
#   scripts/bench-postgres.sh [clients ...]     (default: 32 64)
#
# Starts a throwaway server in a temporary directory on a free port, as the
# `postgres` user, and removes it afterwards. Installs the Debian package
# if the server is missing (needs root). Prints one line per client count:
#   postgres clients=N tps=T latency_ms=L
set -euo pipefail

SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
SEATS="${SEATS:-1000000}"
CLIENTS=("${@:-32 64}")
read -r -a CLIENTS <<<"${CLIENTS[*]}"

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -z "$PGBIN" || ! -x "$PGBIN/postgres" ]]; then
  apt-get install -y -qq postgresql >/dev/null
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

DIR=$(mktemp -d /tmp/bench-postgres.XXXXXX)
chmod 755 "$DIR"
[[ $(id -u) -eq 0 ]] && chown postgres "$DIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

as_pg "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres >/dev/null
# Durable like Boxoffice: fsync on, synchronous commit; sized for 2 cores.
as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start -o \
  "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on \
   -c max_connections=200 -c shared_buffers=256MB" >/dev/null
PSQL=(psql -h 127.0.0.1 -p "$PORT" -U postgres -q -v ON_ERROR_STOP=1)

"${PSQL[@]}" <<SQL
CREATE TABLE seats (show_id int, seat_no int, booked bool NOT NULL DEFAULT false,
                    PRIMARY KEY (show_id, seat_no));
CREATE TABLE bookings (id bigserial PRIMARY KEY, show_id int, seat_no int,
                       user_id int, created_at timestamptz DEFAULT now());
INSERT INTO seats SELECT s / 1000, s % 1000 FROM generate_series(0, $SEATS - 1) s;
VACUUM ANALYZE seats;
SQL

cat >"$DIR/book.sql" <<SQL
\set seat random(0, $SEATS - 1)
BEGIN;
UPDATE seats SET booked = true WHERE show_id = :seat / 1000 AND seat_no = :seat % 1000 AND NOT booked;
INSERT INTO bookings (show_id, seat_no, user_id) VALUES (:seat / 1000, :seat % 1000, :client_id);
COMMIT;
SQL

for clients in "${CLIENTS[@]}"; do
  out=$(pgbench -h 127.0.0.1 -p "$PORT" -U postgres -n -c "$clients" -j 2 \
    -T "$SECONDS_PER_RUN" -f "$DIR/book.sql" postgres 2>&1)
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -1)
  lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out" | head -1)
  echo "postgres clients=$clients tps=$tps latency_ms=$lat"
done
