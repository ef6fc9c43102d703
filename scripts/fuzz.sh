#!/usr/bin/env bash
# Runs every fuzz target of the core package and package receipt for a while (default 300000 runs
# each, about 1-5 minutes), longer than CI's 20000 runs, to find inputs before CI does. A failing input is
# written under testdata/fuzz; commit it together with its fix, so that every
# `go test` replays it.
#
#   scripts/fuzz.sh              # 300000 runs per target
#   FUZZTIME=5m scripts/fuzz.sh  # a duration works too, but on Go 1.26 it can
#                                # end in a spurious "context deadline exceeded"
#                                # (golang/go#75804, fixed in Go 1.27)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-300000x}
for pkg in . ./receipt; do
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$pkg"/*_test.go | sed 's/^func //' | sort)
  for target in $targets; do
    echo "== $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$pkg"
  done
done
