#!/usr/bin/env bash
# The whole test suite: set-up, test servers, then build + ctest in the normal build and under
# ASan/UBSan and TSan, plus a clang build. Exits non-zero if anything fails.
#   scripts/test.sh                 everything
#   PRESETS="debug" scripts/test.sh only some presets
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

"$root/scripts/setup.sh"

# Real servers on loopback, started by the project's own script; stopped on exit.
# The trap is set first, so a server that fails to start never leaves the others running.
servers_started=0
cleanup() {
  [ "$servers_started" = 1 ] && "$root/scripts/servers.sh" stop postgres nginx etcd pg-replica patroni || true
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
  # shellcheck disable=SC1090
  for f in "${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}"/*.env; do [ -e "$f" ] && set -a && . "$f" && set +a; done
fi
jobs=${JOBS:-2}
failed=()
for preset in ${PRESETS:-debug asan tsan clang}; do
  echo "=== preset $preset ==="
  cmake --preset "$preset" >/dev/null
  if ! cmake --build "build/$preset" -j "$jobs"; then failed+=("$preset:build"); continue; fi
  if ! ctest --preset "$preset" -j 1; then failed+=("$preset:test"); fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "test.sh: FAILED: ${failed[*]}"
  exit 1
fi
echo "test.sh: all presets passed"
