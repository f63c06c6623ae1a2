#!/usr/bin/env bash
# bench/pg/sitting.sh — every PostgreSQL figure of bench/pg/README.md in one sitting, rounds
# alternating between reservoir's cases and HikariCP + pgjdbc against the same server.
#
#   scripts/servers.sh start postgres
#   cmake --preset release && cmake --build build/release -j2 --target reservoir_bench_pg reservoir_fault_proxy
#   bench/pg/sitting.sh [SECONDS_PER_RUN] [ROUNDS]      # default 4 s, 3 rounds
#
# PEERS (default ../shared/peers) holds hikari_pg.sh; without it the HikariCP rows are skipped.
# The 0.5 ms round-trip case runs through build/release/tests/tools/reservoir_fault_proxy
# (0.25 ms added each way).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-4}
ROUNDS=${2:-3}
BIN=build/release/bench/pg/reservoir_bench_pg
PROXY=build/release/tests/tools/reservoir_fault_proxy
PEERS=${PEERS:-../shared/peers}
ENV_FILE=${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}/postgres.env
URL=${RESERVOIR_TEST_PG_URL:-$(sed -n 's/^RESERVOIR_TEST_PG_URL=//p' "$ENV_FILE")}
PORT=$(sed 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/' <<<"$URL")
run() { "$BIN" --url "$1" --warmup 1 --seconds "$SECS" --rounds "$ROUNDS" "${@:2}" | grep -E '^(round|case|[a-z0-9_]+ +[0-9])'; }

echo "== machine: $(nproc) cores, $(uname -r), $(date -u '+%F %T UTC'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== SELECT 1, one statement per lease"
run "$URL" --cases raw,pool4,pool4_noseed,pool4_light,pool2,pool2_light
echo "== SELECT 1, five statements per lease"
run "$URL" --statements 5 --cases raw,pool4,pool4_light
echo "== point select by primary key (100,000 rows), one statement per lease; cache on and off"
run "$URL" --workload point --cases raw,pool4,pool4_light,pool4_nocache,pool4_light_nocache,pool2,pool2_light
echo "== point select, five statements per lease"
run "$URL" --workload point --statements 5 --cases raw,pool4,pool4_light,pool4_nocache

if [ -x "$PEERS/hikari_pg.sh" ]; then
  echo "== HikariCP + pgjdbc vs reservoir, SELECT 1, 4 threads, alternating"
  for r in $(seq 1 "$ROUNDS"); do
    for pool in 4 2; do
      echo "round $r hikari_pool$pool $("$PEERS/hikari_pg.sh" "jdbc:postgresql://127.0.0.1:$PORT/postgres?sslmode=disable" postgres "$pool" 4 "$SECS") ops/s"
      "$BIN" --url "$URL" --warmup 1 --seconds "$SECS" --rounds 1 --cases "pool$pool,pool${pool}_light" | grep '^round' | sed "s/^round 1/round $r/"
    done
  done
fi

if [ -x "$PROXY" ]; then
  echo "== through the fault proxy, 0.5 ms added round-trip time (0.25 ms each way)"
  coproc FP { "$PROXY" --target "127.0.0.1:$PORT"; }
  read -r listening addr <&"${FP[0]}"
  echo "latency both 250" >&"${FP[1]}"
  read -r answer <&"${FP[0]}"
  [ "$listening" = listening ] && [ "$answer" = ok ] || { echo "proxy: $listening $addr / $answer" >&2; exit 1; }
  run "${URL/127.0.0.1:$PORT/$addr}" --cases pool4,pool4_light
  run "${URL/127.0.0.1:$PORT/$addr}" --statements 5 --cases pool4,pool4_light
  echo quit >&"${FP[1]}"
  wait "$FP_PID" || true
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
