#!/usr/bin/env bash
# bench/pg/reset_modes.sh — the reset modes side by side with HikariCP + pgjdbc, one sitting,
# rounds alternating: per round SELECT 1 (reservoir pools of 4 and 2, each with the safe default
# reset, ResetMode::tracked and the rollback-only reset), HikariCP + pgjdbc pools of 4 and 2
# (`SELECT 1` prepared; its harness has no point select), then the point select by key.
# 4 client threads. Prints every run and the medians.
#
#   scripts/servers.sh start postgres
#   cmake --preset release && cmake --build build/release -j2 --target reservoir_bench_pg
#   bench/pg/reset_modes.sh [SECONDS_PER_RUN] [ROUNDS]      # default 4 s, 5 rounds
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-4}
ROUNDS=${2:-5}
BIN=build/release/bench/pg/reservoir_bench_pg
PEERS=${PEERS:-../shared/peers}
ENV_FILE=${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}/postgres.env
URL=${RESERVOIR_TEST_PG_URL:-$(sed -n 's/^RESERVOIR_TEST_PG_URL=//p' "$ENV_FILE")}
PORT=$(sed 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/' <<<"$URL")
CASES=pool4,pool4_tracked,pool4_light,pool2,pool2_tracked,pool2_light
OUT=$(mktemp)
run() {  # workload round
  "$BIN" --url "$URL" --warmup 1 --seconds "$SECS" --rounds 1 --workload "$1" --cases "$CASES" |
    awk -v w="$1" -v r="$2" '/^round/ { print "round " r " " w " " $3 " " $4 }'
}
echo "== machine: $(nproc) cores, $(uname -r), $(date -u '+%F %T UTC'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  run select1 "$r" | tee -a "$OUT"
  if [ -x "$PEERS/hikari_pg.sh" ]; then
    for pool in 4 2; do
      echo "round $r select1 hikari_pool$pool $("$PEERS/hikari_pg.sh" "jdbc:postgresql://127.0.0.1:$PORT/postgres?sslmode=disable" postgres "$pool" 4 "$SECS")" | tee -a "$OUT"
    done
  fi
  run point "$r" | tee -a "$OUT"
  echo "-- load after round $r: $(cut -d' ' -f1-3 /proc/loadavg)"
done
echo "== medians"
python3 - "$OUT" <<'PY'
import sys, statistics, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    _, r, w, case, ops = line.split()[:5]
    runs[(w, case)].append(float(ops))
for (w, case), v in sorted(runs.items()):
    print(f"{w:8} {case:16} median {statistics.median(v):9.0f}  rounds {' / '.join(f'{x:.0f}' for x in v)}")
PY
rm -f "$OUT"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
