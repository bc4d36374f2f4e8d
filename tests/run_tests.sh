#!/usr/bin/env bash
# Runs each test command given as an argument, prints its output, and ends with one line
# "N passed, M failed". A doctest binary contributes its test-case counts; any other command counts as
# one test that passed when it exited 0. A doctest binary that crashes or exits non-zero without its
# summary counts as one more failure. Exit status is non-zero when anything failed.
set -u
passed=0; failed=0
start=$(date +%s.%N)
for cmd in "$@"; do
  echo "=== $cmd"
  out=$(mktemp)
  t0=$(date +%s.%N)
  bash -c "$cmd" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  t1=$(date +%s.%N)
  line=$(grep -E '^\[doctest\] test cases:' "$out" | tail -n 1)
  if [ -n "$line" ]; then
    p=$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); echo "FAILED: exit status $rc"; fi
  elif [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAILED: '$cmd' exited with status $rc"
  fi
  awk -v c="$cmd" -v a="$t0" -v b="$t1" 'BEGIN { printf "=== %s: %.1f s\n", c, b - a }'
  rm -f "$out"
done
awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "total test time %.1f s\n", b - a }'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
