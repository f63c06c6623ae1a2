#!/usr/bin/env bash
# Installs every build and test dependency from Debian's archive. Idempotent: installs only
# what is missing. Runs as root on a fresh Debian 12 machine (or through sudo).
set -euo pipefail

packages=(
  g++ clang cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev
  libsqlite3-dev sqlite3
  libpq-dev postgresql openssl
  gnuplot-nox
  procps iproute2
  # HTTP backend (issue 12): Boost 1.81 (Beast/Asio/URL/JSON; never libboost-dev, which is
  # 1.74 and conflicts), OpenSSL, and the test servers and load generator.
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev libssl-dev openssl
  nginx-light libnginx-mod-http-echo etcd-server wrk
  # reservoir::spdlog, the log adapter (issue 13)
  libspdlog-dev
  # PostgreSQL primary/replicas (issue 15): Patroni over etcd v3, its Python dependencies.
  patroni python3-etcd python3-psycopg2
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup.sh: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Keep Debian from starting system-wide PostgreSQL, nginx or etcd services: tests start their
# own on loopback (scripts/servers.sh).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
