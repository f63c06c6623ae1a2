#!/usr/bin/env bash
# The main job: set-up, a release build of reservoir-bench (and only what it links; the `demo`
# preset: release flags in a unity build, a third less compile time), then the
# seeds' benchmark on the embedded SQLite default, a fresh temporary store removed afterwards:
# every scenario next to the raw-SQLite and shared baselines, a table each and seed 001's criteria as
# PASS/FAIL lines, plus build/demo/reservoir-bench.json and .png (latency distribution).
# Arguments go to reservoir-bench (see --help), e.g. --baseline raw,unpooled,
# --target sqlite:./my.db, --target postgresql://user@127.0.0.1:5432/db.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cmake --preset demo >/dev/null
cmake --build build/demo -j "${JOBS:-2}" --target reservoir-bench >/dev/null
exec build/demo/tools/reservoir-bench/reservoir-bench \
  --json build/demo/reservoir-bench.json --chart build/demo/reservoir-bench.png "$@"
