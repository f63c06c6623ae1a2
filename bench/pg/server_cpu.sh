#!/usr/bin/env bash
# bench/pg/server_cpu.sh — server CPU per lease: one reservoir_bench_pg case, with the CPU its
# PostgreSQL backends used (the postmaster's reaped children: cutime + cstime of
# /proc/<postmaster>/stat, read before and after; the bench's backends exit when it ends).
#
#   bench/pg/server_cpu.sh LABEL [reservoir_bench_pg args...]     # e.g. --cases pool4_light
#   SECS=4 (default) measured seconds; no warm-up, one round.
# Prints `LABEL ops/s=... server_cpu_us/op=... load=...`. Other work on the server (another
# client, autovacuum) counts too: compare cases run alternately in one sitting.
set -euo pipefail
cd "$(dirname "$0")/../.."
LABEL=$1; shift
DIR=${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}
URL=${RESERVOIR_TEST_PG_URL:-$(sed -n 's/^RESERVOIR_TEST_PG_URL=//p' "$DIR/postgres.env")}
PM=$(head -1 "$DIR/postgres/data/postmaster.pid")
BIN=build/release/bench/pg/reservoir_bench_pg
SECS=${SECS:-4}
ticks() { awk '{print $16 + $17}' "/proc/$PM/stat"; }
before=$(ticks)
out=$("$BIN" --url "$URL" --warmup 0 --seconds "$SECS" --rounds 1 "$@")
sleep 0.3  # let the postmaster reap the bench's backends
after=$(ticks)
ops=$(awk '/^round 1/{print $4; exit}' <<<"$out")
awk -v l="$LABEL" -v o="$ops" -v t="$((after - before))" -v s="$SECS" -v hz="$(getconf CLK_TCK)" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
  'BEGIN { printf "%s ops/s=%d server_cpu_us/op=%.1f load=%s\n", l, o, t / hz * 1e6 / (o * s), load }'
