#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL pointing at a throwaway PostgreSQL container (our
# postgres image, data on tmpfs, durability off: it only has to be fast), removed afterwards. The
# tmpfs holds one database per test, each with its WAL: 1 GB filled up at about 90 tests.
# pg_stat_statements is loaded so that tests can count the statements a request runs.
# An already exported TEST_DATABASE_URL is used as it is.
set -euo pipefail

if [ -n "${TEST_DATABASE_URL:-}" ]; then exec "$@"; fi
: "${POSTGRES_IMAGE:?set by the justfile}"

name="todo-chatbot-testdb-$$"
password="test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
docker run --detach --rm --name "$name" \
  --env POSTGRES_USER=test --env POSTGRES_PASSWORD="$password" --env POSTGRES_DB=test \
  --publish 127.0.0.1::5432 --tmpfs /var/lib/postgresql/data:rw,size=2g \
  "$POSTGRES_IMAGE" postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
  -c max_connections=300 -c shared_preload_libraries=pg_stat_statements >/dev/null
trap 'docker rm --force "$name" >/dev/null 2>&1 || true' EXIT

for attempt in $(seq 1 60); do
  if docker exec "$name" pg_isready --quiet --host 127.0.0.1 --username test --dbname test; then break; fi
  if [ "$attempt" = 60 ]; then
    echo "with-test-database: PostgreSQL did not become ready in 30 s" >&2
    docker logs "$name" >&2 || true
    exit 1
  fi
  sleep 0.5
done
port=$(docker port "$name" 5432/tcp | head -n1 | sed 's/.*://')
export TEST_DATABASE_URL="postgres://test:$password@127.0.0.1:$port/test"
echo "with-test-database: PostgreSQL ready on 127.0.0.1:$port ($POSTGRES_IMAGE)" >&2
"$@"
