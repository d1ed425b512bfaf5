#!/usr/bin/env bash
# Builds the example monolith, starts it on SQLite (the embedded default) with
# seed data, walks its API once (browse, best-sellers, charge points, issue a
# coupon, place an order that spans every domain), then keeps serving until
# Ctrl-C. `--exit` stops after the walk.
#
#   examples/tour.sh [--exit] [--port N]
#
# LEGACY_COMMERCE_BIN=path skips the build and runs that binary.
set -euo pipefail
cd "$(dirname "$0")/.."

stay=true port=8080
while [[ $# -gt 0 ]]; do
    case $1 in
        --exit) stay=false; shift ;;
        --port) port=$2; shift 2 ;;
        *) echo "unknown argument $1 (use --exit or --port N)" >&2; exit 2 ;;
    esac
done
command -v curl >/dev/null || { echo "the tour needs curl: apt-get install -y curl" >&2; exit 2; }

bin=${LEGACY_COMMERCE_BIN:-}
if [[ -z $bin ]]; then
    cargo build --quiet -p msa-examples --bin legacy-commerce
    bin=target/debug/legacy-commerce
fi

workdir=$(mktemp -d)
out=$workdir/stdout
"$bin" --db "sqlite://$workdir/legacy-commerce.db" --listen "127.0.0.1:$port" --seed 100 >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$workdir"' EXIT
for _ in $(seq 1 100); do grep -q '^listening on ' "$out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$out")
[[ -n $base ]] || { echo "the monolith did not start" >&2; exit 1; }
echo "legacy-commerce is serving $base from SQLite, seeded with 100 users and products"

ask() { # METHOD PATH [JSON]
    echo
    echo "\$ curl -X $1 $base$2${3:+ -d '$3'}"
    if [[ -n ${3:-} ]]; then
        curl -sS -X "$1" "$base$2" -H 'content-type: application/json' -d "$3"
    else
        curl -sS -X "$1" "$base$2"
    fi
    echo
}
ask GET  '/api/products?size=2'
ask GET  /api/users/7/points
ask POST /api/users/7/points/charge '{"amount":5000}'
ask GET  /api/coupons/1
ask POST /api/coupons/1/issue '{"userId":7}'
ask POST /api/orders '{"userId":7,"items":[{"productId":3,"quantity":2},{"productId":5,"quantity":1}],"couponId":1}'
ask POST /api/orders '{"userId":7,"items":[{"productId":4,"quantity":1}],"couponId":1}'
ask GET  '/api/products/top?days=3&limit=5'

if $stay; then
    echo
    echo "Still serving $base — try more with curl; Ctrl-C stops it."
    wait $pid
fi
