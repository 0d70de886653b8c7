#!/bin/bash
# Initialises a cluster from POSTGRES_* on first start, then runs the server in the foreground.
# With POSTGRES_SSL_CERT_FILE and POSTGRES_SSL_KEY_FILE (mounted PEM files) the server speaks TLS.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
tls_dir=/var/lib/postgresql/tls

fail() { echo "postgres entrypoint: $*" >&2; exit 1; }

# PostgreSQL refuses a key that others can read or that belongs to another user, and mounted
# secrets are usually root's and 0644 or 0400: copy both files to a place of the server's own.
install_tls() {
  local cert=${POSTGRES_SSL_CERT_FILE:-} key=${POSTGRES_SSL_KEY_FILE:-} owner=()
  [ -z "$cert$key" ] && return
  [ -n "$cert" ] && [ -n "$key" ] || fail "set both POSTGRES_SSL_CERT_FILE and POSTGRES_SSL_KEY_FILE, or neither"
  [ "$(id -u)" = 0 ] && owner=(-o postgres -g postgres)
  install -d -m 0700 "${owner[@]}" "$tls_dir"
  install -m 0644 "${owner[@]}" "$cert" "$tls_dir/server.crt" || fail "cannot read POSTGRES_SSL_CERT_FILE=$cert"
  install -m 0600 "${owner[@]}" "$key" "$tls_dir/server.key" || fail "cannot read POSTGRES_SSL_KEY_FILE=$key"
  echo "postgres entrypoint: TLS enabled with the certificate from $cert"
}

if [ "$(id -u)" = 0 ]; then
  # Started as root (docker run): fix ownership of a fresh volume, then drop to postgres.
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  # Root can read a secret the postgres user cannot; the second run must not read it again.
  install_tls
  export POSTGRES_SSL_INSTALLED=1
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi
[ "${POSTGRES_SSL_INSTALLED:-}" = 1 ] || install_tls

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
if [ "${1:-}" = postgres ] && [ -n "${POSTGRES_SSL_CERT_FILE:-}" ]; then
  set -- "$@" -c ssl=on -c "ssl_cert_file=$tls_dir/server.crt" -c "ssl_key_file=$tls_dir/server.key"
fi
exec "$@"
