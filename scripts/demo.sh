#!/usr/bin/env bash
# The main job: set-up, a release build, then the demo of the pool on the embedded SQLite
# default (reservoir-demo). Arguments are passed to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cmake --preset release >/dev/null
cmake --build build/release -j "${JOBS:-2}" --target reservoir-demo
exec build/release/examples/sqlite/reservoir-demo "$@"
