#!/usr/bin/env bash
# The proxy against NGINX doing the same work (issue #3). The shared harness
# (../shared/bench/proxy-peers.sh) runs NGINX and HAProxy as plain forwarders;
# msa-migrate also adds X-Forwarded-For/Proto/Host, a request id and a
# traceparent to every request, which the backend then parses. Here NGINX sets
# the same five headers, and both are run interleaved beside plain NGINX with
# the harness's backend and load (wrk -t1 -c64, one worker each). Each round
# prints requests/s and the p50, p90, p99 and p99.9 latencies (bench/percentiles.lua).
#
#   bench/proxy-same-headers.sh [--bin target/release/msa-migrate] [--rounds 5] [--secs 6]
#
# Needs nginx and wrk (apt-get install -y nginx wrk). Uses bench/proxy-bench.yaml
# (port 18083, backend 18081). It measures; it does not judge.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/msa-migrate rounds=5 secs=6
while [[ $# -gt 0 ]]; do
  case $1 in --bin) bin=$2; shift 2;; --rounds) rounds=$2; shift 2;; --secs) secs=$2; shift 2;;
    *) echo "unknown argument $1" >&2; exit 2;; esac
done
for t in nginx wrk; do command -v $t >/dev/null || { echo "missing $t: apt-get install -y nginx wrk" >&2; exit 2; }; done
. bench/nginx-backend.sh
# $request_id is 32 random hex digits: the request id, and the traceparent's
# trace id and (cut to 16 by a map) its parent id.
cat >"$dir/nginx.conf" <<CONF
worker_processes 1; pid $dir/nginx.pid; error_log $dir/nginx.err; daemon on;
events { worker_connections 8192; }
http { access_log off; upstream be { server 127.0.0.1:18081; keepalive 256; }
  map \$request_id \$parent_id { "~^(?<head>.{16})" \$head; }
  server { listen 127.0.0.1:18090; keepalive_requests 1000000;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  server { listen 127.0.0.1:18092; keepalive_requests 1000000;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$http_host;
      proxy_set_header X-Request-Id \$request_id;
      proxy_set_header traceparent "00-\$request_id-\$parent_id-01"; } } }
CONF
start_backend; nginx -c "$dir/nginx.conf"
"$bin" proxy --config bench/proxy-bench.yaml >"$dir/proxy.log" 2>&1 & proxy=$!
path=/api/coupons/42
for _ in $(seq 1 50); do
  ok=1; for p in 18090 18092 18083; do curl -fsS -o /dev/null "http://127.0.0.1:$p$path" 2>/dev/null || ok=0; done
  [[ $ok == 1 ]] && break; sleep 0.2
done
[[ $ok == 1 ]] || { echo "a contender did not answer; proxy log:" >&2; tail -20 "$dir/proxy.log" >&2; exit 2; }
declare -A names=([18090]=nginx [18092]=nginx-same-headers [18083]=candidate) rps p99
run() { # port -> "rps=… p50=… p90=… p99=… p99.9=… max=…" (µs)
  wrk -t1 -c64 -d"${secs}s" -s bench/percentiles.lua "http://127.0.0.1:$1$path" 2>/dev/null | tail -1
}
for r in $(seq 1 "$rounds"); do
  for p in 18090 18092 18083; do
    line=$(run "$p")
    rps[$p]+="$(sed 's/.*rps=\([0-9]*\).*/\1/' <<<"$line") "
    p99[$p]+="$(sed 's/.* p99=\([0-9]*\).*/\1/' <<<"$line") "
    printf "round %d %-18s %s\n" "$r" "${names[$p]}" "$line"
  done
done
med() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo "--- medians (1 worker each, wrk -t1 -c64, ${secs}s x $rounds)"
for p in 18090 18092 18083; do
  printf "%-18s rps=%-7s p99=%sus\n" "${names[$p]}" "$(echo ${rps[$p]} | med)" "$(echo ${p99[$p]} | med)"
done
awk -v c="$(echo ${rps[18083]} | med)" -v s="$(echo ${rps[18092]} | med)" -v cp="$(echo ${p99[18083]} | med)" -v sp="$(echo ${p99[18092]} | med)" \
  'BEGIN{printf "candidate/nginx-same-headers rps ratio=%.2f p99 ratio=%.2f\n", c/s, cp/sp}'
