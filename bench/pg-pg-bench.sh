#!/usr/bin/env bash
# PostgreSQL → PostgreSQL (issue #6), peer and candidate interleaved in each round:
#   copy:   `pg_dump -t orders | psql` (the COPY floor) vs msa-migrate backfill;
#   verify: msa-migrate verify of the candidate's copy (same engine: hashed in SQL).
#
#   bench/pg-pg-bench.sh [--rows 5000000] [--rounds 1] [--bin target/release/msa-migrate]
#
# The source, msa_bench_pgsrc.orders, has the shape of the MariaDB harness's
# table (../shared/bench/backfill-vs-pgloader.sh) in PostgreSQL types; it is
# generated when missing or of another size. Both copies are checked against
# it with the same aggregates. Needs psql, pg_dump, GNU time (/usr/bin/time),
# the server on 127.0.0.1:5432 (user postgres, trust) and a release build.
set -euo pipefail
rows=5000000 rounds=1 bin=target/release/msa-migrate
while [[ $# -gt 0 ]]; do
  case $1 in --rows) rows=$2; shift 2;; --rounds) rounds=$2; shift 2;; --bin) bin=$2; shift 2;;
    *) echo "unknown argument $1" >&2; exit 2;; esac
done
PG="psql -qtA -h 127.0.0.1 -p 5432 -U postgres -v ON_ERROR_STOP=1"
URL=postgres://postgres@127.0.0.1:5432
have=$($PG -d msa_bench_pgsrc -c "SELECT count(*) FROM orders" 2>/dev/null || echo 0)
if [[ $have != "$rows" ]]; then
  echo "generating $rows rows in PostgreSQL msa_bench_pgsrc.orders ..."
  $PG -d postgres -c "DROP DATABASE IF EXISTS msa_bench_pgsrc WITH (FORCE)" -c "CREATE DATABASE msa_bench_pgsrc"
  $PG -d msa_bench_pgsrc -c "CREATE TABLE orders (
    id BIGINT NOT NULL PRIMARY KEY, user_id BIGINT NOT NULL, product_id INT NOT NULL, quantity INT NOT NULL,
    amount NUMERIC(12,2) NOT NULL, status TEXT NOT NULL, coupon_id INT NULL, is_gift BOOLEAN NOT NULL,
    note VARCHAR(200) NULL, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMPTZ NOT NULL)" \
    -c "INSERT INTO orders SELECT s, s % 100003, s % 997, 1 + s % 5, (s % 100000) / 100.0 + 0.99,
      (ARRAY['PENDING','PAID','CANCELLED'])[1 + s % 3], CASE WHEN s % 4 = 0 THEN s % 5000 END, s % 7 = 0,
      CASE WHEN s % 3 = 0 THEN 'gift note ' || s || ' for order ' || s % 977 END,
      TIMESTAMP '2026-01-01' + (s % 31536000) * INTERVAL '1 second', TIMESTAMPTZ '2026-06-01 12:00:00+00'
      FROM generate_series(1, $rows) s" -c "VACUUM ANALYZE orders"
fi
agg() { $PG -d "$1" -c "SELECT count(*), sum(id), sum(amount), sum(quantity), count(note), count(coupon_id), sum(is_gift::int), sum((status = 'PAID')::int), sum(extract(epoch FROM created_at)), sum(extract(epoch FROM updated_at)) FROM orders"; }
fresh() { $PG -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null; }
now() { date +%s.%N; }
rate() { awk -v n="$rows" -v a="$1" -v b="$2" 'BEGIN{printf "%.2fs  %d rows/s", b-a, n/(b-a)}'; }
want=$(agg msa_bench_pgsrc)
check() { local got; got=$(agg "$1" 2>/dev/null || echo "no table"); [[ $got == "$want" ]] && echo exact || echo "MISMATCH ($got vs $want)"; }
echo "$(date -u '+%F %H:%M') UTC, load: $(uptime | sed 's/.*load average: //')"
for r in $(seq 1 "$rounds"); do
  fresh msa_bench_pgdump
  t0=$(now); pg_dump -h 127.0.0.1 -U postgres -t orders msa_bench_pgsrc | $PG -d msa_bench_pgdump >/dev/null; t1=$(now)
  peer=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')
  echo "round $r pg_dump|psql  $(rate "$t0" "$t1")  check: $(check msa_bench_pgdump)"
  fresh msa_bench_pgcand
  t0=$(now)
  /usr/bin/time -f "%M" -o /tmp/pg-pg-bench.rss "$bin" backfill --source "$URL/msa_bench_pgsrc" --target "$URL/msa_bench_pgcand" \
    --tables orders --create-schema --progress none >/dev/null
  t1=$(now)
  cand=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')
  echo "round $r candidate     $(rate "$t0" "$t1")  peak RSS $(( $(cat /tmp/pg-pg-bench.rss) / 1024 )) MB  check: $(check msa_bench_pgcand)"
  awk -v a="$peer" -v b="$cand" 'BEGIN{printf "round %d candidate/pg_dump rows/s ratio=%.2f\n", '"$r"', a/b}'
  t0=$(now)
  /usr/bin/time -f "%M" -o /tmp/pg-pg-bench.rss "$bin" verify --source "$URL/msa_bench_pgsrc" --target "$URL/msa_bench_pgcand" \
    --tables orders --restart >/tmp/pg-pg-bench.verify
  t1=$(now)
  echo "round $r verify        $(rate "$t0" "$t1")  peak RSS $(( $(cat /tmp/pg-pg-bench.rss) / 1024 )) MB  $(grep -o 'clean.*' /tmp/pg-pg-bench.verify | head -1)"
done
