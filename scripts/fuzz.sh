#!/usr/bin/env bash
# Runs every fuzz target of the core package for a while (default 60s each).
# CI does not fuzz: a fuzzer's random search is not a stable gate. CI runs the
# seed corpora and every input committed under testdata/fuzz, which is where a
# failing input found here belongs (the fuzzer writes it there) together with
# its fix.
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
