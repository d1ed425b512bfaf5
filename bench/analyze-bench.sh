#!/usr/bin/env bash
# Times `msa-migrate analyze` on a synthetic Spring/JPA monolith of about
# LINES lines (default 1,000,000): wall time, peak memory (RSS), lines/s.
#
#   bench/analyze-bench.sh [LINES]
#
# Targets (issue #5): under 60 s and under 2 GB on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."

lines=${1:-1000000}
work=target/bench/analyze
# Keyed by the generator's content: a tree from an older generator is never reused.
generator=$(sha256sum bench/gen-java-monolith.py | cut -c1-12)
src=$work/java-monolith-$lines-$generator
out=$work/out

cargo build --release -p msa-cli
if [[ ! -d $src ]]; then
    python3 bench/gen-java-monolith.py --out "$src" --lines "$lines"
fi
rm -rf "$out"

/usr/bin/time -v target/release/msa-migrate analyze --source "$src" --out "$out" \
    > "$work/summary.txt" 2> "$work/time.txt"
cat "$work/summary.txt"

elapsed=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}')
rss_kb=$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')
python3 - "$out/analysis.json" "$elapsed" "$rss_kb" <<'PY'
import json, sys
analysis = json.load(open(sys.argv[1]))
elapsed = sys.argv[2]
parts = [float(p) for p in elapsed.split(":")]
seconds = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
rss_mb = int(sys.argv[3]) / 1024
lines = analysis["inputs"]["lines"]
files = analysis["inputs"]["files"]
print(f"files {files}, lines {lines}")
print(f"wall {seconds:.1f} s, peak RSS {rss_mb:.0f} MB, {lines / seconds:,.0f} lines/s")
print(f"modules {sum(1 for n in analysis['nodes'] if n['kind'] == 'module')}, "
      f"tables {sum(1 for n in analysis['nodes'] if n['kind'] == 'table')}, "
      f"routes {sum(1 for n in analysis['nodes'] if n['kind'] == 'route')}, "
      f"domains {len(analysis['domains'])}, findings {len(analysis['findings'])}")
ok = seconds < 60 and rss_mb < 2048
print("within target (< 60 s, < 2 GB)" if ok else "OVER TARGET (60 s, 2 GB)")
PY
