#!/usr/bin/env bash
# Backfill and verify throughput (issue #6), on the test setup's servers:
#   MariaDB → PostgreSQL: msa-migrate backfill vs pgloader, same data and servers;
#   PostgreSQL → PostgreSQL: msa-migrate backfill vs `pg_dump -t orders | psql` (the COPY floor);
#   verify on same-engine data (PostgreSQL → PostgreSQL).
# Usage: bench/backfill-bench.sh [ROWS]   (default 5000000)
# Needs: mysql and psql clients, pgloader (apt-get install -y pgloader), a release build,
# GNU time at /usr/bin/time (apt-get install -y time) for each run's peak memory (RSS).
# BENCH_BIN=example skips the CLI and times the library through backfill/examples/backfill-bench.rs.
set -euo pipefail
ROWS=${1:-5000000}
cd "$(dirname "$0")/.."
# The CLI when it builds; otherwise the library's copy and verify through a
# small example binary (the same code path without argument parsing).
# Peak RSS of the last `measured` command, from GNU time -v ("n/a" without it):
# memory must stay flat as tables grow, so compare it across ROWS.
PEAK=n/a
measured() {
  if [ -x /usr/bin/time ]; then
    local log rc=0
    log=$(mktemp)
    /usr/bin/time -v -o "$log" "$@" || rc=$?
    PEAK=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f MB", $2 / 1024 }' "$log")
    rm -f "$log"
    return "$rc"
  fi
  "$@"
}
if [ "${BENCH_BIN:-cli}" = cli ] && cargo build --release -p msa-cli >&2; then
  copy() { measured target/release/msa-migrate backfill --source "$1" --target "$2" --tables orders --progress none >/dev/null; }
  check() { measured target/release/msa-migrate verify --source "$1" --target "$2" --tables orders --restart >/dev/null; }
else
  cargo build --release -p msa-backfill --example backfill-bench >&2
  copy() { measured target/release/examples/backfill-bench copy "$1" "$2" orders >/dev/null; }
  check() { measured target/release/examples/backfill-bench verify "$1" "$2" orders >/dev/null; }
fi
MY="mysql -uroot -h127.0.0.1 -P3306"
PG="psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -q"

for db in msa_bench_src; do $MY -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"; done
for db in msa_bench_pg msa_bench_pgloader msa_bench_pgsrc msa_bench_pgdump; do
  $PG -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
done

echo "generating $ROWS orders in MariaDB…" >&2
$MY msa_bench_src -e "CREATE TABLE orders (
  id BIGINT NOT NULL PRIMARY KEY, user_id BIGINT NOT NULL, product_id INT NOT NULL,
  status VARCHAR(16) NOT NULL, quantity INT NOT NULL, unit_price DECIMAL(12,2) NOT NULL,
  total DECIMAL(14,2) NOT NULL, paid TINYINT(1) NOT NULL, note VARCHAR(200) NULL,
  created_at DATETIME(6) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
  SET unique_checks = 0;
  INSERT INTO orders SELECT seq, seq % 100000, seq % 5000, ELT(1 + seq % 4, 'PENDING', 'PAID', 'SHIPPED', 'CANCELLED'),
    1 + seq % 9, (seq % 100000) / 100, (1 + seq % 9) * (seq % 100000) / 100, seq % 2,
    IF(seq % 7 = 0, NULL, CONCAT('order note ', seq)), TIMESTAMP('2025-01-01') + INTERVAL seq SECOND
  FROM seq_1_to_$ROWS;"
TARGET_DDL="CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, product_id INT NOT NULL,
  status TEXT NOT NULL, quantity INT NOT NULL, unit_price NUMERIC(12,2) NOT NULL, total NUMERIC(14,2) NOT NULL,
  paid BOOLEAN NOT NULL, note TEXT, created_at TIMESTAMPTZ NOT NULL)"
$PG -d msa_bench_pg -c "$TARGET_DDL"

secs() { python3 -c "import time; print(time.time())"; }
rate() { python3 -c "print(f'{$ROWS / ($2 - $1):,.0f} rows/s in {($2 - $1):.1f} s')"; }

t0=$(secs)
copy mysql://root@127.0.0.1:3306/msa_bench_src postgres://postgres@127.0.0.1:5432/msa_bench_pg
t1=$(secs)
echo "msa-migrate backfill MariaDB → PostgreSQL: $(rate "$t0" "$t1"), peak RSS $PEAK"

if command -v pgloader >/dev/null; then
  t0=$(secs)
  measured pgloader --quiet mysql://root@127.0.0.1:3306/msa_bench_src postgresql://postgres@127.0.0.1:5432/msa_bench_pgloader >/dev/null
  t1=$(secs)
  echo "pgloader MariaDB → PostgreSQL:            $(rate "$t0" "$t1"), peak RSS $PEAK"
else
  echo "pgloader: not installed (apt-get install -y pgloader)"
fi

# PostgreSQL → PostgreSQL: the source is the copy above.
pg_dump -h 127.0.0.1 -U postgres -t orders msa_bench_pg | $PG -d msa_bench_pgsrc >/dev/null
$PG -d msa_bench_pg -c "DELETE FROM msa_backfill_checkpoints" >/dev/null
$PG -d msa_bench_pg -c "TRUNCATE orders" >/dev/null
t0=$(secs)
pg_dump -h 127.0.0.1 -U postgres -t orders msa_bench_pgsrc | $PG -d msa_bench_pgdump >/dev/null
t1=$(secs)
echo "pg_dump -t orders | psql:                 $(rate "$t0" "$t1")"
t0=$(secs)
copy postgres://postgres@127.0.0.1:5432/msa_bench_pgsrc postgres://postgres@127.0.0.1:5432/msa_bench_pg
t1=$(secs)
echo "msa-migrate backfill PostgreSQL → PostgreSQL: $(rate "$t0" "$t1"), peak RSS $PEAK"

t0=$(secs)
check postgres://postgres@127.0.0.1:5432/msa_bench_pgsrc postgres://postgres@127.0.0.1:5432/msa_bench_pg
t1=$(secs)
echo "msa-migrate verify PostgreSQL → PostgreSQL: $(rate "$t0" "$t1"), peak RSS $PEAK"

t0=$(secs)
check mysql://root@127.0.0.1:3306/msa_bench_src postgres://postgres@127.0.0.1:5432/msa_bench_pg
t1=$(secs)
echo "msa-migrate verify MariaDB → PostgreSQL:    $(rate "$t0" "$t1"), peak RSS $PEAK"

if [ -z "${KEEP:-}" ]; then
  $MY -e "DROP DATABASE msa_bench_src"
  for db in msa_bench_pg msa_bench_pgloader msa_bench_pgsrc msa_bench_pgdump; do
    $PG -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  done
fi
