#!/usr/bin/env bash
# servers.sh — start, stop or query the throwaway servers the backend tests and benchmarks use.
#
#   scripts/servers.sh start|stop|status|env postgres
#
# postgres: a fresh PostgreSQL 15 cluster (initdb on every start) on 127.0.0.1, a free port,
# TCP only, fsync off, max_connections=40. PostgreSQL refuses to run as root, so as root the
# server runs as the `postgres` system user (or a `reservoir` system user created on demand).
# State lives in ${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}/postgres; `start` writes
# postgres.env there, which tests and scripts source (or read: tests/pg parses it):
#   RESERVOIR_TEST_PG_URL         superuser URL (trust auth, no password)
#   RESERVOIR_TEST_PG_SECRET_URL  URL of a password-protected role (secrets-redaction tests)
#   RESERVOIR_TEST_PG_DATA        the data directory (pg_ctl -D, postmaster.pid)
#   RESERVOIR_TEST_PG_BIN         the directory holding pg_ctl
#   RESERVOIR_TEST_PG_USER        the OS user the server runs as (tests run pg_ctl as that user)
#   RESERVOIR_TEST_PG_TLS_URL     superuser URL with sslmode=verify-full and the test CA
#   RESERVOIR_TEST_PG_CA          the test CA's certificate (it signed the server's)
#   RESERVOIR_TEST_PG_WRONG_CA    another CA's certificate (it signed nothing the server has)
# The server also accepts TLS (ssl = on): at initdb, `openssl` makes a throwaway CA and a
# server certificate for 127.0.0.1 (IP subjectAltName only, so `localhost` is a wrong name).
# `stop` signals the pid in postmaster.pid (SIGINT = fast shutdown), never a process by name.
set -euo pipefail

STATE=${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}
PG_BIN=${RESERVOIR_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=$STATE/postgres
PG_DATA=$PG_DIR/data
PG_ENV=$STATE/postgres.env
PG_LOG=$PG_DIR/server.log
PG_SECRET_PASSWORD='reservoir-Secret-pw-7e1'

die() { echo "servers.sh: $*" >&2; exit 1; }

# The OS user the server runs as, and how to run a command as that user.
pg_os_user() {
  if [ "$(id -u)" != 0 ]; then id -un; return; fi
  if id postgres >/dev/null 2>&1; then echo postgres; return; fi
  id reservoir >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin reservoir
  echo reservoir
}
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$(pg_os_user)" -- "$@"; else "$@"; fi
}

# The postmaster's pid, if postmaster.pid names a live process that is really our server.
pg_pid() {
  [ -f "$PG_DATA/postmaster.pid" ] || return 1
  local pid
  pid=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$PG_DATA" || return 1
  echo "$pid"
}

port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltn "sport = :$1" | grep -q .
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    port_in_use "$p" || { echo "$p"; return; }
  done
  die "no free port found"
}

PG_TLS=$PG_DIR/tls

# A throwaway CA, the server's key and certificate signed by it (CN and subjectAltName
# 127.0.0.1), and a second, unrelated CA for the wrong-CA tests. EC keys: fast to make.
pg_make_certs() {
  command -v openssl >/dev/null || die "openssl not found: scripts/setup.sh installs it"
  mkdir -p "$PG_TLS"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  (
    cd "$PG_TLS"
    openssl req -x509 "${ec[@]}" -days 30 -subj "/CN=reservoir test CA" -keyout ca.key -out ca.crt
    openssl req -x509 "${ec[@]}" -days 30 -subj "/CN=reservoir wrong CA" -keyout wrong-ca.key -out wrong-ca.crt
    openssl req "${ec[@]}" -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile server.ext -out server.crt
  ) >"$PG_DIR/openssl.log" 2>&1 || { cat "$PG_DIR/openssl.log" >&2; die "openssl failed"; }
  chmod 755 "$PG_TLS"
  chmod 644 "$PG_TLS"/*.crt
  chmod 600 "$PG_TLS"/*.key
  [ "$(id -u)" = 0 ] && chown -R "$(pg_os_user)" "$PG_TLS"
  return 0
}

# ssl = on with the certificate above; plain connections keep working (sslmode=disable URLs).
pg_enable_tls() {
  pg_make_certs
  as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<CONF
ssl = on
ssl_cert_file = '$PG_TLS/server.crt'
ssl_key_file = '$PG_TLS/server.key'
CONF
}

pg_write_env() {
  local port=$1
  cat >"$PG_ENV.tmp" <<ENV
RESERVOIR_TEST_PG_URL=postgresql://postgres@127.0.0.1:$port/postgres?sslmode=disable
RESERVOIR_TEST_PG_SECRET_URL=postgresql://reservoir_secret:$PG_SECRET_PASSWORD@127.0.0.1:$port/postgres?sslmode=disable
RESERVOIR_TEST_PG_DATA=$PG_DATA
RESERVOIR_TEST_PG_BIN=$PG_BIN
RESERVOIR_TEST_PG_USER=$(pg_os_user)
RESERVOIR_TEST_PG_TLS_URL='postgresql://postgres@127.0.0.1:$port/postgres?sslmode=verify-full&sslrootcert=$PG_TLS/ca.crt'
RESERVOIR_TEST_PG_CA=$PG_TLS/ca.crt
RESERVOIR_TEST_PG_WRONG_CA=$PG_TLS/wrong-ca.crt
ENV
  chmod 644 "$PG_ENV.tmp"
  mv "$PG_ENV.tmp" "$PG_ENV"
}

pg_initdb() {
  local port=$1
  rm -rf "$PG_DIR"
  mkdir -p "$PG_DIR"
  chmod 755 "$STATE"
  [ "$(id -u)" = 0 ] && chown "$(pg_os_user)" "$PG_DIR"
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 ||
    { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<CONF
# reservoir test server (scripts/servers.sh)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 40
superuser_reserved_connections = 3
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
lc_messages = 'C'
password_encryption = 'scram-sha-256'
CONF
  as_pg tee "$PG_DATA/pg_hba.conf" >/dev/null <<HBA
host all reservoir_secret 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
HBA
  pg_enable_tls
}

pg_wait_ready() {
  local port=$1
  for _ in $(seq 1 100); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1 && return 0
    sleep 0.1
  done
  return 1
}

# A crashed test may have left the server frozen (SIGSTOP): wake the postmaster and its
# children (selected by parent pid, never by name).
thaw() {
  kill -CONT "$1" 2>/dev/null || true
  pkill -CONT -P "$1" 2>/dev/null || true
}

pg_start() {
  if pid=$(pg_pid); then
    thaw "$pid"
    echo "postgres already running (pid $pid)"
    cat "$PG_ENV"
    return 0
  fi
  [ -x "$PG_BIN/pg_ctl" ] || die "$PG_BIN/pg_ctl not found: apt-get install postgresql (15)"
  local port attempt
  for attempt in 1 2 3; do
    port=$(free_port)
    pg_initdb "$port"
    if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 30 start >/dev/null 2>&1 &&
      pg_wait_ready "$port"; then
      "$PG_BIN/psql" -q -X -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE reservoir_secret LOGIN PASSWORD '$PG_SECRET_PASSWORD'" >/dev/null
      pg_write_env "$port"
      echo "postgres started on 127.0.0.1:$port (data $PG_DATA)"
      cat "$PG_ENV"
      return 0
    fi
    echo "servers.sh: start attempt $attempt on port $port failed:" >&2
    tail -n 5 "$PG_LOG" >&2 || true
  done
  die "postgres did not start"
}

pg_stop() {
  local pid
  if ! pid=$(pg_pid); then
    echo "postgres not running"
    rm -f "$PG_ENV"
    return 0
  fi
  thaw "$pid"
  kill -INT "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -QUIT "$pid" 2>/dev/null || true; sleep 1; fi
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$PG_ENV"
  echo "postgres stopped (pid $pid)"
}

pg_status() {
  local pid
  if pid=$(pg_pid); then
    echo "postgres running (pid $pid)"
    [ -f "$PG_ENV" ] && cat "$PG_ENV"
    return 0
  fi
  echo "postgres not running"
  return 1
}

usage() { echo "usage: $0 start|stop|status|env postgres" >&2; exit 2; }

[ $# -ge 1 ] || usage
action=$1
shift
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(postgres)
for s in "${servers[@]}"; do
  case "$s" in
    postgres | pg) ;;
    *) die "unknown server '$s' (known: postgres)" ;;
  esac
  case "$action" in
    start) pg_start ;;
    stop) pg_stop ;;
    status) pg_status ;;
    env) pg_pid >/dev/null && cat "$PG_ENV" ;;
    *) usage ;;
  esac
done
