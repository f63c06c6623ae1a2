#!/usr/bin/env bash
# servers.sh — start, stop or query the throwaway servers the backend tests and benchmarks use.
#
#   scripts/servers.sh start|stop|status|env [postgres] [nginx] [etcd] [pg-replica] [patroni]
#                                            [prometheus]
#   (default: postgres)
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
# postgres2: a second, independent server set up the same way (cluster tests: two endpoints),
# in $STATE/postgres2, writing postgres2.env with the same names under RESERVOIR_TEST_PG2_
# (RESERVOIR_TEST_PG2_URL, _DATA, _BIN, _USER, ...).
set -euo pipefail

STATE=${RESERVOIR_SERVERS_DIR:-/tmp/reservoir-servers}
PG_BIN=${RESERVOIR_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=$STATE/postgres
PG_DATA=$PG_DIR/data
PG_ENV=$STATE/postgres.env
PG_LOG=$PG_DIR/server.log
PG_SECRET_PASSWORD='reservoir-Secret-pw-7e1'
PG_VAR=RESERVOIR_TEST_PG  # prefix of the names in the env file

# Points the postgres functions at one server: `postgres` (the default) or `postgres2`.
pg_instance() {
  PG_DIR=$STATE/$1
  PG_DATA=$PG_DIR/data
  PG_ENV=$STATE/$1.env
  PG_LOG=$PG_DIR/server.log
  PG_TLS=$PG_DIR/tls
  PG_VAR=$2
}

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

# Whether GET PATH on 127.0.0.1:PORT answers with TEXT in it, within 2 s: a server may accept
# connections long before it answers them (an etcd waiting for another's lock on its data dir
# never does), so a readiness probe without a bound can wait forever.
http_answers() { # port path text
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf "GET %s HTTP/1.0\r\n\r\n" "$1" >&3 &&
    grep -qF -- "$2" <&3' "$1" "$2" "$3" 2>/dev/null
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
${PG_VAR}_URL=postgresql://postgres@127.0.0.1:$port/postgres?sslmode=disable
${PG_VAR}_SECRET_URL=postgresql://reservoir_secret:$PG_SECRET_PASSWORD@127.0.0.1:$port/postgres?sslmode=disable
${PG_VAR}_DATA=$PG_DATA
${PG_VAR}_BIN=$PG_BIN
${PG_VAR}_USER=$(pg_os_user)
${PG_VAR}_TLS_URL='postgresql://postgres@127.0.0.1:$port/postgres?sslmode=verify-full&sslrootcert=$PG_TLS/ca.crt'
${PG_VAR}_CA=$PG_TLS/ca.crt
${PG_VAR}_WRONG_CA=$PG_TLS/wrong-ca.crt
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

# ---- nginx (HTTP backend tests and benchmarks) ------------------------------------------
# nginx-light + the echo module, on 127.0.0.1, three free ports:
#   plain  short keepalive_timeout (1 s) and keepalive_requests (20): the server closes
#          keep-alive connections under the pool (stale-connection and idle-timeout tests)
#   tls    the same locations over TLS, with a certificate for DNS:reservoir.test and
#          IP:127.0.0.1 signed by a CA made with openssl at start
#   bench  ordinary keep-alive (75 s, 100000 requests) for the benchmarks
# Locations: /healthz (200 "ok"), /small (100-byte body), /delay?s=SECONDS (echo_sleep),
# /busy (503, Retry-After: 1), /limited (429, Retry-After: 2), /echo (the request body back),
# /big?n=N (N bytes, chunked), /status/404, /status/502, /status/504, and /v3/ proxied to etcd
# when etcd was started first (`start etcd nginx`).
# `start` writes nginx.env:
#   RESERVOIR_TEST_NGINX_URL, _TLS_URL, _BENCH_URL   http://127.0.0.1:P ... https://...
#   RESERVOIR_TEST_NGINX_CA        the CA that signed the TLS certificate (PEM)
#   RESERVOIR_TEST_NGINX_WRONG_CA  another CA (signed nothing here)
#   RESERVOIR_TEST_NGINX_PID_FILE  the master's pid file
NGINX_DIR=$STATE/nginx
NGINX_ENV=$STATE/nginx.env
NGINX_BIN=${RESERVOIR_NGINX_BIN:-/usr/sbin/nginx}
NGINX_ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so

nginx_pid() {
  [ -f "$NGINX_DIR/nginx.pid" ] || return 1
  local pid
  pid=$(head -n1 "$NGINX_DIR/nginx.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$NGINX_DIR" || return 1
  echo "$pid"
}

# A CA, a server certificate it signs (DNS:reservoir.test, IP:127.0.0.1), and an unrelated CA.
nginx_make_certs() {
  local d=$NGINX_DIR/tls
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=reservoir test CA" \
      -keyout ca.key -out ca.pem
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=reservoir wrong CA" \
      -keyout wrong-ca.key -out wrong-ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=reservoir.test" -keyout server.key -out server.csr
    printf 'subjectAltName=DNS:reservoir.test,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile ext.cnf -out server.pem
  ) >"$NGINX_DIR/openssl.log" 2>&1 || { cat "$NGINX_DIR/openssl.log" >&2; die "openssl failed"; }
}

# With etcd already running (start etcd before nginx), /v3/ is proxied to it, so a REST
# workload can cross nginx's keep-alive closes: client -> nginx (1 s, 20 requests) -> etcd.
nginx_etcd_location() {
  [ -f "$STATE/etcd.env" ] || return 0
  local etcd
  etcd=$(sed -n 's/^RESERVOIR_TEST_ETCD_URL=//p' "$STATE/etcd.env")
  [ -n "$etcd" ] || return 0
  echo "    location /v3/ { proxy_pass $etcd; proxy_http_version 1.1; proxy_set_header Connection \"\"; }"
}

nginx_locations() {
  local body100
  body100=$(printf '%0100d' 0)
  nginx_etcd_location
  cat <<LOC
    location = /healthz { return 200 "ok\n"; }
    location = /small { return 200 "$body100"; }
    location = /delay { echo_sleep \$arg_s; echo "done"; }
    location = /busy { add_header Retry-After 1 always; return 503 "busy\n"; }
    location = /limited { add_header Retry-After 2 always; return 429 "slow down\n"; }
    location = /echo { echo_read_request_body; echo_request_body; }
    location = /big { echo_duplicate \$arg_n "x"; }
    location = /status/404 { return 404 "not found\n"; }
    location = /status/502 { return 502 "bad gateway\n"; }
    location = /status/504 { return 504 "gateway timeout\n"; }
LOC
}

nginx_write_conf() {
  local plain=$1 tls=$2 bench=$3 user_line=""
  [ "$(id -u)" = 0 ] && user_line="user nobody nogroup;"
  cat >"$NGINX_DIR/nginx.conf" <<CONF
# reservoir test server (scripts/servers.sh)
load_module $NGINX_ECHO_MODULE;
$user_line
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type text/plain;
  client_body_temp_path $NGINX_DIR/tmp/body;
  proxy_temp_path $NGINX_DIR/tmp/proxy;
  fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
  uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
  scgi_temp_path $NGINX_DIR/tmp/scgi;
  client_body_buffer_size 1m;
  client_max_body_size 8m;
  server {
    listen 127.0.0.1:$plain;
    keepalive_timeout 1s;
    keepalive_requests 20;
$(nginx_locations)
  }
  server {
    listen 127.0.0.1:$tls ssl;
    ssl_certificate $NGINX_DIR/tls/server.pem;
    ssl_certificate_key $NGINX_DIR/tls/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;  # nginx 1.22's default stops at 1.2; 1.3 sends session tickets after the handshake
    keepalive_timeout 1s;
    keepalive_requests 20;
$(nginx_locations)
  }
  server {
    listen 127.0.0.1:$bench;
    keepalive_timeout 75s;
    keepalive_requests 100000;
$(nginx_locations)
  }
}
CONF
}

nginx_write_env() {
  cat >"$NGINX_ENV.tmp" <<ENV
RESERVOIR_TEST_NGINX_URL=http://127.0.0.1:$1
RESERVOIR_TEST_NGINX_TLS_URL=https://127.0.0.1:$2
RESERVOIR_TEST_NGINX_BENCH_URL=http://127.0.0.1:$3
RESERVOIR_TEST_NGINX_CA=$NGINX_DIR/tls/ca.pem
RESERVOIR_TEST_NGINX_WRONG_CA=$NGINX_DIR/tls/wrong-ca.pem
RESERVOIR_TEST_NGINX_PID_FILE=$NGINX_DIR/nginx.pid
ENV
  chmod 644 "$NGINX_ENV.tmp"
  mv "$NGINX_ENV.tmp" "$NGINX_ENV"
}

nginx_wait_ready() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

nginx_start() {
  if pid=$(nginx_pid); then
    echo "nginx already running (pid $pid)"
    cat "$NGINX_ENV"
    return 0
  fi
  [ -x "$NGINX_BIN" ] || die "$NGINX_BIN not found: apt-get install nginx-light"
  [ -f "$NGINX_ECHO_MODULE" ] || die "$NGINX_ECHO_MODULE not found: apt-get install libnginx-mod-http-echo"
  local plain tls bench attempt
  for attempt in 1 2 3; do
    rm -rf "$NGINX_DIR"
    mkdir -p "$NGINX_DIR/tmp"
    chmod 755 "$STATE" "$NGINX_DIR"
    [ "$(id -u)" = 0 ] && chown nobody "$NGINX_DIR/tmp"
    nginx_make_certs
    plain=$(free_port)
    tls=$(free_port)
    bench=$(free_port)
    [ "$plain" != "$tls" ] && [ "$tls" != "$bench" ] && [ "$plain" != "$bench" ] || continue
    nginx_write_conf "$plain" "$tls" "$bench"
    if "$NGINX_BIN" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" 2>>"$NGINX_DIR/start.log" &&
      nginx_wait_ready "$plain" && nginx_wait_ready "$tls" && nginx_wait_ready "$bench"; then
      nginx_write_env "$plain" "$tls" "$bench"
      echo "nginx started on 127.0.0.1:$plain (tls $tls, bench $bench; pid $(nginx_pid))"
      cat "$NGINX_ENV"
      return 0
    fi
    echo "servers.sh: nginx start attempt $attempt failed:" >&2
    tail -n 5 "$NGINX_DIR/start.log" "$NGINX_DIR/error.log" >&2 2>/dev/null || true
    if pid=$(nginx_pid); then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  die "nginx did not start"
}

# Signals the pid named by a pid file (TERM, then KILL), never a process by name.
stop_pid() {
  local name=$1 pid=$2
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  echo "$name stopped (pid $pid)"
}

nginx_stop() {
  local pid
  if ! pid=$(nginx_pid); then
    echo "nginx not running"
    rm -f "$NGINX_ENV"
    return 0
  fi
  kill -CONT "$pid" 2>/dev/null || true
  stop_pid nginx "$pid"
  rm -f "$NGINX_ENV"
}

nginx_status() {
  local pid
  if pid=$(nginx_pid); then
    echo "nginx running (pid $pid)"
    [ -f "$NGINX_ENV" ] && cat "$NGINX_ENV"
    return 0
  fi
  echo "nginx not running"
  return 1
}

# ---- etcd (HTTP backend: a stateful REST workload through the v3 JSON gateway) -----------
# A single-member etcd on 127.0.0.1 (client and peer on free ports), fresh data dir each
# start. `start` writes etcd.env:
#   RESERVOIR_TEST_ETCD_URL       http://127.0.0.1:P (POST /v3/kv/put, /v3/kv/range)
#   RESERVOIR_TEST_ETCD_PID_FILE  the server's pid file
ETCD_DIR=$STATE/etcd
ETCD_ENV=$STATE/etcd.env
ETCD_BIN=${RESERVOIR_ETCD_BIN:-/usr/bin/etcd}

etcd_pid() {
  [ -f "$ETCD_DIR/etcd.pid" ] || return 1
  local pid
  pid=$(head -n1 "$ETCD_DIR/etcd.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$ETCD_DIR" || return 1
  echo "$pid"
}

# Ready once /health says so (http_answers), while `pid`, the process just launched, is alive
# (by pid alone: right after the fork its command line may not be etcd's yet).
etcd_wait_ready() {
  local port=$1 pid=$2
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 1
    http_answers "$port" /health '"health":"true"' && return 0
    sleep 0.1
  done
  return 1
}

etcd_start() {
  if pid=$(etcd_pid); then
    kill -CONT "$pid" 2>/dev/null || true
    echo "etcd already running (pid $pid)"
    cat "$ETCD_ENV"
    return 0
  fi
  [ -x "$ETCD_BIN" ] || die "$ETCD_BIN not found: apt-get install etcd-server"
  local client peer attempt
  for attempt in 1 2 3; do
    rm -rf "$ETCD_DIR"
    mkdir -p "$ETCD_DIR"
    chmod 755 "$STATE"
    client=$(free_port)
    peer=$(free_port)
    [ "$client" != "$peer" ] || continue
    # setsid: the server outlives this script and never gets the caller's terminal signals.
    setsid "$ETCD_BIN" --name reservoir --data-dir "$ETCD_DIR/data" \
      --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
      --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
      --initial-cluster "reservoir=http://127.0.0.1:$peer" --log-level warn \
      </dev/null >"$ETCD_DIR/server.log" 2>&1 &
    local launched=$!
    echo "$launched" >"$ETCD_DIR/etcd.pid"
    if etcd_wait_ready "$client" "$launched"; then
      cat >"$ETCD_ENV.tmp" <<ENV
RESERVOIR_TEST_ETCD_URL=http://127.0.0.1:$client
RESERVOIR_TEST_ETCD_PID_FILE=$ETCD_DIR/etcd.pid
ENV
      chmod 644 "$ETCD_ENV.tmp"
      mv "$ETCD_ENV.tmp" "$ETCD_ENV"
      echo "etcd started on 127.0.0.1:$client (pid $(etcd_pid))"
      cat "$ETCD_ENV"
      return 0
    fi
    echo "servers.sh: etcd start attempt $attempt on port $client failed:" >&2
    tail -n 5 "$ETCD_DIR/server.log" >&2 || true
    # The process launched, whatever its command line says by now: a survivor would hold the
    # data dir's lock, and the next attempt's etcd would wait for it without ever answering.
    if kill -0 "$launched" 2>/dev/null; then stop_pid etcd "$launched" >/dev/null; fi
  done
  die "etcd did not start"
}

etcd_stop() {
  local pid
  if ! pid=$(etcd_pid); then
    echo "etcd not running"
    rm -f "$ETCD_ENV"
    return 0
  fi
  kill -CONT "$pid" 2>/dev/null || true
  stop_pid etcd "$pid"
  rm -f "$ETCD_ENV"
}

etcd_status() {
  local pid
  if pid=$(etcd_pid); then
    echo "etcd running (pid $pid)"
    [ -f "$ETCD_ENV" ] && cat "$ETCD_ENV"
    return 0
  fi
  echo "etcd not running"
  return 1
}

# ---- pg-replica (PostgreSQL primary + streaming replica: role awareness, read-your-writes) ---
# A fresh primary (initdb) and a `pg_basebackup -R` hot-standby replica streaming from it, on
# 127.0.0.1, free ports, TCP only, same OS user as the postgres kind. `start` writes
# pg-replica.env:
#   RESERVOIR_TEST_PG_PRIMARY_URL   superuser URL of the primary (trust auth)
#   RESERVOIR_TEST_PG_REPLICA_URL   superuser URL of the replica (read-only, hot standby)
#   RESERVOIR_TEST_PG_PRIMARY_DATA / _REPLICA_DATA   their data directories
PGR_DIR=$STATE/pg-replica
PGR_ENV=$STATE/pg-replica.env

# The postmaster's pid for data directory $1, if postmaster.pid names our live server.
pgdir_pid() {
  local data=$1 pid
  [ -f "$data/postmaster.pid" ] || return 1
  pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$data" || return 1
  echo "$pid"
}

# Fast shutdown of the server of data directory $1 (by its postmaster.pid, never by name).
pgdir_stop() {
  local data=$1 name=$2 pid
  pid=$(pgdir_pid "$data") || return 0
  thaw "$pid"
  kill -INT "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  echo "$name stopped (pid $pid)"
}

pgr_url() { echo "postgresql://postgres@127.0.0.1:$1/postgres?sslmode=disable"; }

pgr_conf() {
  as_pg tee -a "$1/postgresql.conf" >/dev/null <<CONF
# reservoir test server (scripts/servers.sh pg-replica)
listen_addresses = '127.0.0.1'
port = $2
unix_socket_directories = ''
max_connections = 40
fsync = off
full_page_writes = off
logging_collector = off
lc_messages = 'C'
wal_level = replica
max_wal_senders = 5
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
CONF
}

pgr_start() {
  local ppid
  if ppid=$(pgdir_pid "$PGR_DIR/primary") && pgdir_pid "$PGR_DIR/replica" >/dev/null; then
    echo "pg-replica already running (primary pid $ppid)"
    cat "$PGR_ENV"
    return 0
  fi
  pgr_stop >/dev/null
  [ -x "$PG_BIN/pg_basebackup" ] || die "$PG_BIN/pg_basebackup not found: apt-get install postgresql (15)"
  local p r
  p=$(free_port)
  r=$(free_port)
  [ "$p" != "$r" ] || r=$(free_port)
  rm -rf "$PGR_DIR"
  mkdir -p "$PGR_DIR"
  chmod 755 "$STATE" "$PGR_DIR"
  [ "$(id -u)" = 0 ] && chown "$(pg_os_user)" "$PGR_DIR"
  as_pg "$PG_BIN/initdb" -D "$PGR_DIR/primary" -U postgres -A trust -E UTF8 --locale=C >"$PGR_DIR/initdb.log" 2>&1 ||
    { cat "$PGR_DIR/initdb.log" >&2; die "pg-replica: initdb failed"; }
  pgr_conf "$PGR_DIR/primary" "$p"
  printf 'host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n' | as_pg tee "$PGR_DIR/primary/pg_hba.conf" >/dev/null
  as_pg "$PG_BIN/pg_ctl" -D "$PGR_DIR/primary" -l "$PGR_DIR/primary.log" -w -t 30 start >/dev/null ||
    { tail -n 5 "$PGR_DIR/primary.log" >&2; die "pg-replica: primary did not start"; }
  # -R writes standby.signal and primary_conninfo; the copied postgresql.conf keeps the
  # primary's port, so the replica's own port is appended after it (last one wins).
  as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$p" -U postgres -D "$PGR_DIR/replica" -R -X stream -c fast \
    >"$PGR_DIR/basebackup.log" 2>&1 || { cat "$PGR_DIR/basebackup.log" >&2; die "pg-replica: pg_basebackup failed"; }
  echo "port = $r" | as_pg tee -a "$PGR_DIR/replica/postgresql.conf" >/dev/null
  as_pg "$PG_BIN/pg_ctl" -D "$PGR_DIR/replica" -l "$PGR_DIR/replica.log" -w -t 30 start >/dev/null ||
    { tail -n 5 "$PGR_DIR/replica.log" >&2; die "pg-replica: replica did not start"; }
  local streaming=""
  for _ in $(seq 1 100); do
    streaming=$("$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$p" -U postgres -d postgres \
      -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null || true)
    [ "$streaming" = 1 ] && break
    sleep 0.1
  done
  [ "$streaming" = 1 ] || { tail -n 5 "$PGR_DIR/replica.log" >&2; die "pg-replica: the replica is not streaming"; }
  cat >"$PGR_ENV.tmp" <<ENV
RESERVOIR_TEST_PG_PRIMARY_URL=$(pgr_url "$p")
RESERVOIR_TEST_PG_REPLICA_URL=$(pgr_url "$r")
RESERVOIR_TEST_PG_PRIMARY_DATA=$PGR_DIR/primary
RESERVOIR_TEST_PG_REPLICA_DATA=$PGR_DIR/replica
ENV
  chmod 644 "$PGR_ENV.tmp"
  mv "$PGR_ENV.tmp" "$PGR_ENV"
  echo "pg-replica started: primary 127.0.0.1:$p, replica 127.0.0.1:$r (streaming)"
  cat "$PGR_ENV"
}

pgr_stop() {
  pgdir_stop "$PGR_DIR/replica" "pg-replica replica"
  pgdir_stop "$PGR_DIR/primary" "pg-replica primary"
  rm -f "$PGR_ENV"
}

pgr_status() {
  local pid
  if pid=$(pgdir_pid "$PGR_DIR/primary") && pgdir_pid "$PGR_DIR/replica" >/dev/null; then
    echo "pg-replica running (primary pid $pid)"
    [ -f "$PGR_ENV" ] && cat "$PGR_ENV"
    return 0
  fi
  echo "pg-replica not running"
  return 1
}

# ---- patroni (etcd + Patroni managing a primary and a synchronous streaming replica) ------
# A private single-member etcd (v3 API) and two Patroni nodes (Debian `patroni`, DCS etcd3),
# each managing a PostgreSQL 15 on 127.0.0.1 with its REST API on a free port; short TTLs so a
# failover takes seconds (ttl 10, loop_wait 1, retry_timeout 4: Patroni wants
# loop_wait + 2 * retry_timeout <= ttl), synchronous_mode on (a commit is acknowledged only once
# the synchronous standby has it), master_start_timeout 0 (a crashed primary fails over at once
# instead of being restarted in place), pg_rewind to bring the old primary back as a replica.
# node1 bootstraps and leads; node2 is cloned from it and becomes the synchronous standby
# before `start` returns. Patroni runs as the same OS user as the postgres kind. patroni.env:
#   RESERVOIR_TEST_PATRONI_URL                 multi-host URL of both nodes' PostgreSQL
#   RESERVOIR_TEST_PATRONI_NODE{1,2}_PG_URL    each node's PostgreSQL (trust auth)
#   RESERVOIR_TEST_PATRONI_NODE{1,2}_REST      each node's REST API (GET /primary, /replica, /patroni)
#   RESERVOIR_TEST_PATRONI_NODE{1,2}_DATA      each node's data directory
#   RESERVOIR_TEST_PATRONI_NODE{1,2}_PID_FILE  each Patroni's pid file
PAT_DIR=$STATE/patroni
PAT_ENV=$STATE/patroni.env
PATRONI_BIN=${RESERVOIR_PATRONI_BIN:-/usr/bin/patroni}

# The pid in pid file $1 if it is a live process whose command line names $2.
pidfile_pid() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(head -n1 "$1" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
  echo "$pid"
}

pat_http_code() { # url -> HTTP status (000 when nothing answers)
  local host_port=${1#http://} path=/${1#http://*/} code
  host_port=${host_port%%/*}
  code=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "GET %s HTTP/1.0\r\n\r\n" "$2" >&3 &&
    head -n1 <&3 | cut -d" " -f2' "${host_port%:*}" "${host_port#*:}" "$path" 2>/dev/null) || true
  echo "${code:-000}"
}

pat_wait_code() { # url code tries(0.2 s)
  for _ in $(seq 1 "$3"); do
    [ "$(pat_http_code "$1")" = "$2" ] && return 0
    sleep 0.2
  done
  return 1
}

pat_etcd_start() {
  local client=$1 peer=$2
  mkdir -p "$PAT_DIR/etcd"
  setsid "$ETCD_BIN" --name patroni --data-dir "$PAT_DIR/etcd/data" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "patroni=http://127.0.0.1:$peer" --log-level warn \
    </dev/null >"$PAT_DIR/etcd/server.log" 2>&1 &
  echo $! >"$PAT_DIR/etcd/etcd.pid"
  etcd_wait_ready_at "$client" "$PAT_DIR/etcd"
}

etcd_wait_ready_at() {
  for _ in $(seq 1 200); do
    pidfile_pid "$2/etcd.pid" "$2" >/dev/null || return 1
    http_answers "$1" /health '"health":"true"' && return 0
    sleep 0.1
  done
  return 1
}

pat_write_config() { # node pg_port rest_port etcd_port
  local node=$1 dir=$PAT_DIR/$1
  cat >"$dir/patroni.yml" <<YML
scope: reservoir
namespace: /reservoir-test/
name: $node
log:
  level: WARNING
  dir: $dir
restapi:
  listen: 127.0.0.1:$3
  connect_address: 127.0.0.1:$3
etcd3:
  hosts: 127.0.0.1:$4
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    master_start_timeout: 0
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 40
        max_wal_senders: 5
        max_replication_slots: 5
        wal_log_hints: 'on'
        hot_standby: 'on'
        wal_receiver_status_interval: 1s
        fsync: 'off'
        full_page_writes: 'on'
  initdb:
  - encoding: UTF8
  - locale: C
  pg_hba:
  - host replication all 127.0.0.1/32 trust
  - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:$2
  connect_address: 127.0.0.1:$2
  data_dir: $dir/data
  bin_dir: $PG_BIN
  pgpass: $dir/pgpass
  authentication:
    superuser: {username: postgres}
    replication: {username: postgres}
    rewind: {username: postgres}
  parameters:
    unix_socket_directories: '$dir'
    logging_collector: 'off'
    lc_messages: C
  pg_hba:
  - host replication all 127.0.0.1/32 trust
  - host all all 127.0.0.1/32 trust
YML
}

# Starts Patroni for node $1 in the background; its pid (the exec'd shell's) goes to patroni.pid.
pat_node_start() {
  local dir=$PAT_DIR/$1
  # shellcheck disable=SC2016  # $$, $1 and $2 are the inner shell's
  # runuser stays Patroni's parent: its output must not hold the caller's stdout (a pipe
  # reading `servers.sh start patroni` would otherwise never see its end). Not into
  # patroni.out: opened here, as root, the file would not be writable by Patroni's user.
  as_pg setsid sh -c 'echo $$ >"$1/patroni.pid"; exec "$2" "$1/patroni.yml" >>"$1/patroni.out" 2>&1' \
    sh "$dir" "$PATRONI_BIN" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 50); do [ -s "$dir/patroni.pid" ] && return 0; sleep 0.05; done
  die "patroni $1 wrote no pid file"
}

pat_fail() {
  echo "servers.sh: $*" >&2
  tail -n 20 "$PAT_DIR"/node*/patroni.out "$PAT_DIR"/node*/patroni.log >&2 2>/dev/null || true
  pat_stop >/dev/null 2>&1 || true
  die "patroni did not start"
}

pat_start() {
  local pid
  if pid=$(pidfile_pid "$PAT_DIR/node1/patroni.pid" "$PAT_DIR") && pidfile_pid "$PAT_DIR/node2/patroni.pid" "$PAT_DIR" >/dev/null; then
    echo "patroni already running (node1 pid $pid)"
    cat "$PAT_ENV"
    return 0
  fi
  pat_stop >/dev/null 2>&1 || true
  [ -x "$PATRONI_BIN" ] || die "$PATRONI_BIN not found: apt-get install patroni python3-etcd python3-psycopg2"
  [ -x "$ETCD_BIN" ] || die "$ETCD_BIN not found: apt-get install etcd-server"
  local ports=() p
  while [ ${#ports[@]} -lt 6 ]; do
    p=$(free_port)
    [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
  done
  rm -rf "$PAT_DIR"
  mkdir -p "$PAT_DIR/node1" "$PAT_DIR/node2"
  chmod 755 "$STATE" "$PAT_DIR"
  pat_etcd_start "${ports[4]}" "${ports[5]}" || pat_fail "patroni's etcd did not start"
  pat_write_config node1 "${ports[0]}" "${ports[2]}" "${ports[4]}"
  pat_write_config node2 "${ports[1]}" "${ports[3]}" "${ports[4]}"
  [ "$(id -u)" = 0 ] && chown -R "$(pg_os_user)" "$PAT_DIR/node1" "$PAT_DIR/node2"
  pat_node_start node1
  pat_wait_code "http://127.0.0.1:${ports[2]}/primary" 200 300 || pat_fail "node1 did not become the primary"
  pat_node_start node2
  pat_wait_code "http://127.0.0.1:${ports[3]}/sync" 200 300 || pat_fail "node2 did not become the synchronous standby"
  cat >"$PAT_ENV.tmp" <<ENV
RESERVOIR_TEST_PATRONI_URL=postgresql://postgres@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}/postgres?sslmode=disable
RESERVOIR_TEST_PATRONI_NODE1_PG_URL=$(pgr_url "${ports[0]}")
RESERVOIR_TEST_PATRONI_NODE2_PG_URL=$(pgr_url "${ports[1]}")
RESERVOIR_TEST_PATRONI_NODE1_REST=http://127.0.0.1:${ports[2]}
RESERVOIR_TEST_PATRONI_NODE2_REST=http://127.0.0.1:${ports[3]}
RESERVOIR_TEST_PATRONI_NODE1_DATA=$PAT_DIR/node1/data
RESERVOIR_TEST_PATRONI_NODE2_DATA=$PAT_DIR/node2/data
RESERVOIR_TEST_PATRONI_NODE1_PID_FILE=$PAT_DIR/node1/patroni.pid
RESERVOIR_TEST_PATRONI_NODE2_PID_FILE=$PAT_DIR/node2/patroni.pid
ENV
  chmod 644 "$PAT_ENV.tmp"
  mv "$PAT_ENV.tmp" "$PAT_ENV"
  echo "patroni started: node1 pg 127.0.0.1:${ports[0]} rest ${ports[2]}, node2 pg 127.0.0.1:${ports[1]} rest ${ports[3]}, etcd ${ports[4]}"
  cat "$PAT_ENV"
}

pat_stop() {
  local node pid
  # Patroni stops its PostgreSQL on SIGTERM; a server left behind is stopped by its pid file.
  for node in node2 node1; do
    if pid=$(pidfile_pid "$PAT_DIR/$node/patroni.pid" "$PAT_DIR"); then
      kill -CONT "$pid" 2>/dev/null || true
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
      echo "patroni $node stopped (pid $pid)"
    fi
    pgdir_stop "$PAT_DIR/$node/data" "patroni $node postgres"
  done
  if pid=$(pidfile_pid "$PAT_DIR/etcd/etcd.pid" "$PAT_DIR/etcd"); then stop_pid "patroni etcd" "$pid"; fi
  rm -f "$PAT_ENV"
}

pat_status() {
  local pid
  if pid=$(pidfile_pid "$PAT_DIR/node1/patroni.pid" "$PAT_DIR") && pidfile_pid "$PAT_DIR/node2/patroni.pid" "$PAT_DIR" >/dev/null; then
    echo "patroni running (node1 pid $pid)"
    [ -f "$PAT_ENV" ] && cat "$PAT_ENV"
    return 0
  fi
  echo "patroni not running"
  return 1
}

# ---- prometheus (observability: a real server scrapes the admin endpoint) -----------------
# One Prometheus on 127.0.0.1 (a free port, fresh TSDB each start) scraping every second the
# targets listed in files under prometheus/targets/ (file_sd, re-read within a second). A test
# starts its admin endpoint on any port, then writes targets/<name>.json naming it, so the
# server never needs a restart. `start` writes prometheus.env:
#   RESERVOIR_TEST_PROMETHEUS_URL          http://127.0.0.1:P (/api/v1/query)
#   RESERVOIR_TEST_PROMETHEUS_TARGETS_DIR  where a test writes [{"targets":["127.0.0.1:N"]}]
PROM_DIR=$STATE/prometheus
PROM_ENV=$STATE/prometheus.env
PROM_BIN=${RESERVOIR_PROMETHEUS_BIN:-/usr/bin/prometheus}

prom_pid() {
  [ -f "$PROM_DIR/prometheus.pid" ] || return 1
  local pid
  pid=$(head -n1 "$PROM_DIR/prometheus.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$PROM_DIR" || return 1
  echo "$pid"
}

prom_wait_ready() { # port pid (the process launched: see etcd_wait_ready)
  for _ in $(seq 1 300); do
    kill -0 "$2" 2>/dev/null || return 1
    http_answers "$1" /-/ready "200 OK" && return 0
    sleep 0.1
  done
  return 1
}

prom_start() {
  if pid=$(prom_pid); then
    echo "prometheus already running (pid $pid)"
    cat "$PROM_ENV"
    return 0
  fi
  [ -x "$PROM_BIN" ] || die "$PROM_BIN not found: apt-get install prometheus"
  local port attempt
  for attempt in 1 2 3; do
    rm -rf "$PROM_DIR"
    mkdir -p "$PROM_DIR/targets" "$PROM_DIR/data"
    chmod 777 "$PROM_DIR/targets"
    chmod 755 "$STATE"
    port=$(free_port)
    cat >"$PROM_DIR/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: reservoir
    file_sd_configs:
      - files: ["$PROM_DIR/targets/*.json"]
        refresh_interval: 1s
YML
    setsid "$PROM_BIN" --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
      --web.listen-address="127.0.0.1:$port" --log.level=warn \
      </dev/null >"$PROM_DIR/server.log" 2>&1 &
    local launched=$!
    echo "$launched" >"$PROM_DIR/prometheus.pid"
    if prom_wait_ready "$port" "$launched"; then
      cat >"$PROM_ENV.tmp" <<ENV
RESERVOIR_TEST_PROMETHEUS_URL=http://127.0.0.1:$port
RESERVOIR_TEST_PROMETHEUS_TARGETS_DIR=$PROM_DIR/targets
ENV
      chmod 644 "$PROM_ENV.tmp"
      mv "$PROM_ENV.tmp" "$PROM_ENV"
      echo "prometheus started on 127.0.0.1:$port (pid $(prom_pid))"
      cat "$PROM_ENV"
      return 0
    fi
    echo "servers.sh: prometheus start attempt $attempt on port $port failed:" >&2
    tail -n 5 "$PROM_DIR/server.log" >&2 || true
    if kill -0 "$launched" 2>/dev/null; then stop_pid prometheus "$launched" >/dev/null; fi
  done
  die "prometheus did not start"
}

prom_stop() {
  local pid
  if ! pid=$(prom_pid); then
    echo "prometheus not running"
    rm -f "$PROM_ENV"
    return 0
  fi
  stop_pid prometheus "$pid"
  rm -f "$PROM_ENV"
}

prom_status() {
  local pid
  if pid=$(prom_pid); then
    echo "prometheus running (pid $pid)"
    [ -f "$PROM_ENV" ] && cat "$PROM_ENV"
    return 0
  fi
  echo "prometheus not running"
  return 1
}

usage() { echo "usage: $0 start|stop|status|env [postgres] [nginx] [etcd] [pg-replica] [patroni] [prometheus]" >&2; exit 2; }

[ $# -ge 1 ] || usage
action=$1
shift
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(postgres)
for s in "${servers[@]}"; do
  pg_instance postgres RESERVOIR_TEST_PG  # the postgres functions' server, unless postgres2:
  case "$s" in
    postgres2) pg_instance postgres2 RESERVOIR_TEST_PG2 ;;  # same functions, its own server
    nginx)
      case "$action" in
        start) nginx_start ;; stop) nginx_stop ;; status) nginx_status ;;
        env) nginx_pid >/dev/null && cat "$NGINX_ENV" ;; *) usage ;;
      esac
      continue ;;
    etcd)
      case "$action" in
        start) etcd_start ;; stop) etcd_stop ;; status) etcd_status ;;
        env) etcd_pid >/dev/null && cat "$ETCD_ENV" ;; *) usage ;;
      esac
      continue ;;
    pg-replica)
      case "$action" in
        start) pgr_start ;; stop) pgr_stop ;; status) pgr_status ;;
        env) pgr_status >/dev/null && cat "$PGR_ENV" ;; *) usage ;;
      esac
      continue ;;
    patroni)
      case "$action" in
        start) pat_start ;; stop) pat_stop ;; status) pat_status ;;
        env) pat_status >/dev/null && cat "$PAT_ENV" ;; *) usage ;;
      esac
      continue ;;
    prometheus)
      case "$action" in
        start) prom_start ;; stop) prom_stop ;; status) prom_status ;;
        env) prom_pid >/dev/null && cat "$PROM_ENV" ;; *) usage ;;
      esac
      continue ;;
    postgres | pg) ;;
    *) die "unknown server '$s' (known: postgres, nginx, etcd, pg-replica, patroni, prometheus)" ;;
  esac
  case "$action" in
    start) pg_start ;;
    stop) pg_stop ;;
    status) pg_status ;;
    env) pg_pid >/dev/null && cat "$PG_ENV" ;;
    *) usage ;;
  esac
done
