#!/usr/bin/env bash
# The whole test suite: set-up, test servers, then build + ctest under ASan/UBSan (clang++, with
# the examples) and under TSan (g++): both compilers build everything with -Werror and both
# sanitizers run every test; beside the last tests, the demo preset builds reservoir-bench (the
# README's first command). Exits non-zero if anything fails.
#   scripts/test.sh                       what CI runs (presets asan tsan)
#   PRESETS="debug clang" scripts/test.sh other presets (see CMakePresets.json)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

"$root/scripts/setup.sh"

# Real servers on loopback, started by the project's own script; stopped on exit.
# The trap is set first, so a server that fails to start never leaves the others running.
servers_started=0
cleanup() {
  [ "$servers_started" = 1 ] && "$root/scripts/servers.sh" stop postgres nginx etcd pg-replica patroni prometheus || true
  [ "$servers_started" = 1 ] && "$root/scripts/servers.sh" stop postgres2 || true  # cluster tests
}
trap cleanup EXIT
if [ -x "$root/scripts/servers.sh" ]; then
  servers_started=1
  "$root/scripts/servers.sh" start postgres2  # the cluster tests' second endpoint
  # etcd before nginx: nginx proxies /v3/ to it (the HTTP tests cross nginx's keep-alive closes).
  "$root/scripts/servers.sh" start postgres etcd nginx
  # tests/pgha: a primary + streaming replica (~5 s to start) and Patroni + etcd (~15 s).
  "$root/scripts/servers.sh" start pg-replica patroni
  # Prometheus scrapes the admin endpoint's tests (tests/admin, targets written by the test).
  "$root/scripts/servers.sh" start prometheus
  # shellcheck disable=SC1090
  for f in "${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}"/*.env; do [ -e "$f" ] && set -a && . "$f" && set +a; done
fi
jobs=${JOBS:-2}
read -r -a presets <<< "${PRESETS:-asan tsan}"
failed=()
# One preset's configure + build; its output goes to build/<preset>.log, shown when it is done.
build() {
  mkdir -p build
  { cmake --preset "$1" && cmake --build "build/$1" -j "$jobs"; } >"build/$1.log" 2>&1
}
# The next preset builds while this one's tests run: ctest mostly waits (servers, deadlines,
# one test at a time), so the two overlap and CI takes about the builds plus the last ctest.
build "${presets[0]}" & builder=$!
for i in "${!presets[@]}"; do
  preset=${presets[$i]}
  built=1; wait "$builder" || built=0
  echo "=== preset $preset ==="
  cat "build/$preset.log"
  next=${presets[$((i + 1))]:-}
  if [ -n "$next" ]; then build "$next" & builder=$!; fi
  # Beside the last preset's tests: the README's first command (scripts/demo.sh) builds
  # reservoir-bench with the demo preset, a unity build; a unit that breaks it fails here.
  if [ -z "$next" ] && [ -z "${PRESETS:-}" ]; then
    { mkdir -p build && cmake --preset demo && cmake --build build/demo -j "$jobs" --target reservoir-bench; } \
      >build/demo.log 2>&1 & demo_builder=$!
  fi
  if [ "$built" = 0 ]; then failed+=("$preset:build"); continue; fi
  if ! ctest --preset "$preset" -j 1; then failed+=("$preset:test"); fi
done

if [ -n "${demo_builder:-}" ] && ! wait "$demo_builder"; then
  cat build/demo.log
  failed+=("demo:build")
fi
if [ "${#failed[@]}" -ne 0 ]; then
  echo "test.sh: FAILED: ${failed[*]}"
  exit 1
fi
echo "test.sh: all presets passed"
