#!/usr/bin/env bash
# The main job: set-up, a release build of reservoir-bench (and only what it links), then the
# seeds' benchmark on the embedded SQLite default, a fresh temporary store removed afterwards:
# every scenario next to the raw-SQLite baseline, a table each and seed 001's criteria as
# PASS/FAIL lines, plus build/release/reservoir-bench.json and .png (latency distribution).
# Arguments go to reservoir-bench (see --help), e.g. --baseline raw,unpooled,
# --target sqlite:./my.db, --target postgresql://user@127.0.0.1:5432/db.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cmake --preset release >/dev/null
cmake --build build/release -j "${JOBS:-2}" --target reservoir-bench >/dev/null
exec build/release/tools/reservoir-bench/reservoir-bench \
  --json build/release/reservoir-bench.json --chart build/release/reservoir-bench.png "$@"
