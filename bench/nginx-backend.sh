# Sourced by the proxy benchmarks: a temporary directory `$dir` removed on exit
# (with the NGINX instances whose pid files are in it and the proxy in
# `$proxy`), and `start_backend`, the shared harness's backend: NGINX, one
# worker, on 127.0.0.1:18081, answering every request with the same JSON.
dir=$(mktemp -d); proxy=""
cleanup() { [[ -n $proxy ]] && kill "$proxy" 2>/dev/null; for f in "$dir"/*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
start_backend() {
  local body='{"id":42,"name":"10% off","discountAmount":1000,"issuedCount":37,"maxIssue":100,"items":[1,2,3],"status":"ACTIVE","createdAt":"2026-01-09T10:35:25Z"}'
  cat >"$dir/backend.conf" <<CONF
worker_processes 1; pid $dir/backend.pid; error_log $dir/backend.err; daemon on;
events { worker_connections 8192; }
http { access_log off; server { listen 127.0.0.1:18081 reuseport; keepalive_requests 1000000;
  location / { default_type application/json; return 200 '$body'; } } }
CONF
  nginx -c "$dir/backend.conf"
}
