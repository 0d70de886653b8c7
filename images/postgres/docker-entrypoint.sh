#!/bin/bash
# Initialises a cluster from POSTGRES_* on first start, then runs the server in the foreground.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

fail() { echo "postgres entrypoint: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
  # Started as root (docker run): fix ownership of a fresh volume, then drop to postgres.
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

initialise() {
  local user=${POSTGRES_USER:-postgres}
  local database=${POSTGRES_DB:-$user}
  local host_auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$host_auth" != trust ]; then
    fail "POSTGRES_PASSWORD is not set: set a password, or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one"
  fi
  echo "postgres entrypoint: initialising $PGDATA for user $user, database $database"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of flags
  initdb --username="$user" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    --auth-local=trust --auth-host="$host_auth" --encoding=UTF8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
  printf 'host all all all %s\n' "$host_auth" >>"$PGDATA/pg_hba.conf"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  if [ "$database" != postgres ]; then
    # Single-user mode: no server listens before the cluster is complete.
    echo "CREATE DATABASE \"${database//\"/\"\"}\";" | postgres --single -j -D "$PGDATA" postgres >/dev/null
  fi
  echo "postgres entrypoint: initialised"
}

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  initialise
fi
exec "$@"
