#!/usr/bin/env bash
# Runs each benchmark command given as an argument, one after another, stopping at the first failure.
set -eu
for cmd in "$@"; do
  echo "=== $cmd"
  bash -c "$cmd"
done
