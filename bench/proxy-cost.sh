#!/usr/bin/env bash
# What one proxied request costs, measured in ways the machine's load moves
# little (issue #3), beside NGINX in the same run:
#   - CPU time per request (user + system, from /proc/PID/stat) of NGINX (one
#     worker, upstream keep-alive) and of msa-migrate, interleaved rounds of
#     h2load over HTTP/1.1 with 16 connections;
#   - with --instructions, callgrind's instruction count per request of
#     msa-migrate (repeatable whatever else runs; NGINX is not measured so).
#
#   bench/proxy-cost.sh [--bin target/release/msa-migrate] [--requests 150000] [--rounds 3] [--instructions]
#
# Needs nginx and h2load (apt-get install -y nginx nghttp2-client), valgrind for
# --instructions. Uses bench/proxy-bench.yaml (port 18083, backend 18081).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/msa-migrate requests=150000 rounds=3 instructions=0
while [[ $# -gt 0 ]]; do
  case $1 in --bin) bin=$2; shift 2;; --requests) requests=$2; shift 2;; --rounds) rounds=$2; shift 2;;
    --instructions) instructions=1; shift;; *) echo "unknown argument $1" >&2; exit 2;; esac
done
for t in nginx h2load; do command -v $t >/dev/null || { echo "missing $t: apt-get install -y nginx nghttp2-client" >&2; exit 2; }; done
. bench/nginx-backend.sh
cat >"$dir/nginx.conf" <<CONF
worker_processes 1; pid $dir/nginx.pid; error_log $dir/nginx.err; daemon on;
events { worker_connections 8192; }
http { access_log off; upstream be { server 127.0.0.1:18081; keepalive 256; }
  server { listen 127.0.0.1:18090; keepalive_requests 1000000;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
start_backend; nginx -c "$dir/nginx.conf"; sleep 0.5
nginx_worker=$(pgrep -P "$(cat "$dir/nginx.pid")")
url() { echo "http://127.0.0.1:$1/api/coupons/42"; }
wait_for() { for _ in $(seq 1 100); do curl -fsS -o /dev/null "$(url "$1")" 2>/dev/null && return 0; sleep 0.2; done; echo "nothing answers on $1" >&2; exit 2; }
hz=$(getconf CLK_TCK)
cost() { # name pid port: one measured h2load run after a warm-up
  h2load --h1 -n 5000 -c 16 "$(url "$3")" >/dev/null
  read -r ua sa < <(awk '{print $14, $15}' "/proc/$2/stat")
  rps=$(h2load --h1 -n "$requests" -c 16 "$(url "$3")" | awk '/^finished in/ {print int($4)}')
  read -r ub sb < <(awk '{print $14, $15}' "/proc/$2/stat")
  awk -v n="$1" -v u=$((ub - ua)) -v s=$((sb - sa)) -v hz="$hz" -v r="$requests" -v rps="$rps" \
    'BEGIN {printf "%-10s req/s=%-7s user_us=%.1f sys_us=%.1f cpu_us_per_request=%.1f\n", n, rps, u*1e6/hz/r, s*1e6/hz/r, (u+s)*1e6/hz/r}'
}
for r in $(seq 1 "$rounds"); do
  echo "round $r"
  cost nginx "$nginx_worker" 18090
  "$bin" proxy --config bench/proxy-bench.yaml >"$dir/proxy.log" 2>&1 & proxy=$!
  wait_for 18083; cost candidate "$proxy" 18083
  kill "$proxy"; wait "$proxy" 2>/dev/null || true; proxy=""
done
if [[ $instructions == 1 ]]; then
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$bin" proxy --config bench/proxy-bench.yaml >"$dir/proxy.log" 2>&1 & proxy=$!
  wait_for 18083; h2load --h1 -n 2000 -c 16 "$(url 18083)" >/dev/null
  callgrind_control -z "$proxy" >/dev/null; n=20000
  h2load --h1 -n $n -c 16 "$(url 18083)" >/dev/null
  callgrind_control -d "$proxy" >/dev/null; sleep 1
  total=$(callgrind_annotate "$dir/cg.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  echo "candidate instructions_per_request=$((total / n)) (callgrind, $n requests)"
fi
