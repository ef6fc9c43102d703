#!/usr/bin/env bash
# Runs every fuzz target of the core package for a while (default 60s each),
# longer than CI's 10s, to find inputs before CI does. A failing input is
# written under testdata/fuzz; commit it together with its fix, so that every
# `go test` replays it.
#
#   scripts/fuzz.sh            # 60s per target
#   FUZZTIME=5m scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}
targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' ./*_test.go | sed 's/^func //' | sort)
for target in $targets; do
  echo "== $target ($fuzztime)"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s .
done
