#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on a loopback port.
#
#   tests/postgres/cluster.sh start DIR [--port N] [--tls CERT KEY]
#                                         initdb into DIR (if empty) and start;
#                                         prints the URL of its `postgres` db;
#                                         with --tls, it also accepts TLS
#                                         with that certificate and key
#   tests/postgres/cluster.sh stop DIR    stop it (immediately)
#   tests/postgres/cluster.sh check       whether clusters can be started
#                                         here; if not, says why (exit 1)
#
# PostgreSQL refuses to run as root, so as root the cluster runs as the
# `postgres` user of Debian's packages. The port is a free ephemeral one.
set -euo pipefail

command=${1:?usage: cluster.sh start|stop DIR, or cluster.sh check}
bin=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)

if [ "$command" = check ]; then
  for program in initdb pg_ctl; do
    if [ ! -x "$bin/$program" ]; then
      echo "PostgreSQL's $program is not installed (apt-get install -y postgresql)"
      exit 1
    fi
  done
  if [ "$(id -u)" = 0 ] && ! id -u postgres >/dev/null 2>&1; then
    echo "there is no postgres user to run PostgreSQL as (apt-get install -y postgresql)"
    exit 1
  fi
  exit 0
fi
dir=${2:?usage: cluster.sh start|stop DIR}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$command" in
start)
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir" -U pipechat --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 ||
      { cat "$dir.initdb.log" >&2; exit 1; }
  fi
  port=
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
    --port) port=$2; shift 2 ;;
    --tls)
      # PostgreSQL reads them as its own user and refuses a key others can read.
      install -m 600 "$2" "$dir/server.crt"
      install -m 600 "$3" "$dir/server.key"
      if [ "$(id -u)" = 0 ]; then chown postgres "$dir/server.crt" "$dir/server.key"; fi
      # In its configuration, so that a restart (--port) keeps TLS; these
      # file names are PostgreSQL's defaults.
      grep -qx "ssl = on" "$dir/postgresql.conf" || echo "ssl = on" >>"$dir/postgresql.conf"
      shift 3
      ;;
    *) echo "cluster.sh: unknown option $1" >&2; exit 2 ;;
    esac
  done
  if [ -z "$port" ]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
  as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 -o \
    "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=400 -c fsync=off -c full_page_writes=off" \
    start >/dev/null
  echo "postgres://pipechat@127.0.0.1:$port/postgres"
  ;;
stop)
  as_owner "$bin/pg_ctl" -D "$dir" -m immediate stop >/dev/null 2>&1 || true
  ;;
*)
  echo "usage: cluster.sh start|stop DIR, or cluster.sh check" >&2
  exit 2
  ;;
esac
