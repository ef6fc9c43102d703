#!/usr/bin/env bash
# Runs the benchmarks of bench_test.go and guard/bench_test.go in interleaved rounds, summarises them
# with benchstat, and writes the target table into docs/performance.md
# between the bench markers. Usage: scripts/bench.sh   (ROUNDS=6 BENCHTIME=1s by default)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-6}
BENCHTIME=${BENCHTIME:-1s}
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

mkdir -p bench
raw=bench/raw.txt
: > "$raw"
for i in $(seq "$ROUNDS"); do
  echo "round $i of $ROUNDS" >&2
  go test -run '^$' -bench '^Benchmark(Render|Send|FirstRender|HostMemory|Route|RouterOverhead)$' -benchtime "$BENCHTIME" -count 1 . >> "$raw"
  (cd guard && go test -run '^$' -bench '^Benchmark(Check|GuardSend)$' -benchtime "$BENCHTIME" -count 1 .) >> "$raw"
done

go run "$BENCHSTAT" "$raw" > bench/benchstat.txt
table=$(go run ./scripts/benchtable -rounds "$ROUNDS" -benchtime "$BENCHTIME" < "$raw")

# Replace what stands between the markers in docs/performance.md.
awk -v table="$table" '
  /<!-- bench:start -->/ { print; print table; skip = 1; next }
  /<!-- bench:end -->/ { skip = 0 }
  !skip { print }
' docs/performance.md > docs/performance.md.new
mv docs/performance.md.new docs/performance.md
echo "$table"
