#!/usr/bin/env bash
# `just bench`: image sizes, build times (cold, cached, one file changed) and time from
# container start to ready, measured on this machine. Prints a Markdown report; the figures
# in docs/benchmarks.md come from it. No thresholds: numbers are for people to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BACKEND_IMAGE:?set by the justfile}" "${WEB_IMAGE:?}" "${POSTGRES_IMAGE:?}"
RUNS=${BENCH_RUNS:-5}
COLD=${BENCH_COLD:-1}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f", m }'; }

echo "## Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), docker $(docker version -f '{{.Server.Version}}')"
echo
echo "### Image sizes"
echo
echo "| image | size (docker image inspect) |"
echo "|---|---|"
for ref in "$BACKEND_IMAGE" "$WEB_IMAGE" "$POSTGRES_IMAGE"; do
  echo "| \`$ref\` | $(docker image inspect -f '{{.Size}}' "$ref" | awk '{ printf "%.2f MB", $1 / 1e6 }') |"
done
echo

echo "### Build times"
echo
echo "| build | backend | web |"
echo "|---|---|---|"
build_time() { # name, extra flags...
  local name=$1; shift
  local start; start=$(now)
  images/build.sh "$name" "$@" >/dev/null 2>&1
  elapsed "$start"
}
row() { echo "| $1 | $2 s | $3 s |"; }
row "nothing changed (all layers cached)" "$(build_time backend)" "$(build_time web)"

# One source file edited: a copy of the tree with a comment appended, so cook stays cached.
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
git ls-files -z | xargs -0 cp --parents -t "$copy"
echo "// bench: $(date +%s%N)" >>"$copy/backend/src/lib.rs"
echo "// bench: $(date +%s%N)" >>"$copy/web/src/main.rs"
one_file() {
  local name=$1 start
  start=$(now)
  (cd "$copy" && REVISION=bench images/build.sh "$name" >/dev/null 2>&1)
  elapsed "$start"
}
row "one source file changed (dependencies cached)" "$(one_file backend)" "$(one_file web)"
docker image rm "${IMAGE_PREFIX}/backend:bench" "${IMAGE_PREFIX}/web:bench" >/dev/null 2>&1 || true
if [ "$COLD" = 1 ]; then
  cold() {
    local name=$1 start
    start=$(now)
    (cd "$copy" && REVISION=bench images/build.sh "$name" --no-cache >/dev/null 2>&1)
    elapsed "$start"
  }
  row "cold (--no-cache, toolchain image present)" "$(cold backend)" "$(cold web)"
  docker image rm "${IMAGE_PREFIX}/backend:bench" "${IMAGE_PREFIX}/web:bench" >/dev/null 2>&1 || true
fi
echo

echo "### Start to ready (median of $RUNS)"
echo
network="bench-$$"
docker network create "$network" >/dev/null
cleanup() { docker rm -f bench-db bench-backend bench-web bench-load >/dev/null 2>&1 || true; docker network rm "$network" >/dev/null 2>&1 || true; rm -rf "$copy"; }
trap cleanup EXIT
docker run -d --name bench-db --network "$network" -e POSTGRES_USER=todo -e POSTGRES_PASSWORD=bench \
  -e POSTGRES_DB=todo "$POSTGRES_IMAGE" >/dev/null
until docker exec bench-db pg_isready -q -h 127.0.0.1 -U todo -d todo; do sleep 0.2; done
url="postgres://todo:bench@bench-db:5432/todo"
secret=bench-secret-0123456789abcdef0123456789

time_to() { # container name, port, path, docker run args...
  local name=$1 port=$2 path=$3; shift 3
  local start host_port
  start=$(now)
  docker run -d --name "$name" --network "$network" -p "127.0.0.1::$port" --read-only --cap-drop ALL "$@" >/dev/null
  host_port=$(docker port "$name" "$port/tcp" | head -n1 | sed 's/.*://')
  until curl -fsS -o /dev/null "http://127.0.0.1:$host_port$path" 2>/dev/null; do sleep 0.01; done
  awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.0f\n", (b - a) * 1000 }'
}
fresh_db() { docker exec bench-db psql -q -U todo -d todo -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null; }
backend_fresh=(); backend_warm=(); web_ready=()
for _ in $(seq 1 "$RUNS"); do
  fresh_db
  backend_fresh+=("$(time_to bench-backend 8000 /readyz -e DATABASE_URL="$url" -e BETTER_AUTH_SECRET="$secret" "$BACKEND_IMAGE")")
  docker rm -f bench-backend >/dev/null
  backend_warm+=("$(time_to bench-backend 8000 /readyz -e DATABASE_URL="$url" -e BETTER_AUTH_SECRET="$secret" "$BACKEND_IMAGE")")
  web_ready+=("$(time_to bench-web 3000 /healthz -e BACKEND_URL=http://bench-backend:8000 "$WEB_IMAGE")")
  docker rm -f bench-backend bench-web >/dev/null
done
echo "| what | ms from \`docker run\` to 200 |"
echo "|---|---|"
echo "| backend \`/readyz\`, empty database (runs the migrations) | $(printf '%s\n' "${backend_fresh[@]}" | median) |"
echo "| backend \`/readyz\`, schema already applied | $(printf '%s\n' "${backend_warm[@]}" | median) |"
echo "| web \`/healthz\` | $(printf '%s\n' "${web_ready[@]}" | median) |"

echo

# Peak memory of a container's cgroup (v2, then v1), in MiB.
peak_mib() {
  local id; id=$(docker inspect -f '{{.Id}}' "$1")
  local file
  for file in "/sys/fs/cgroup/system.slice/docker-$id.scope/memory.peak" \
              "/sys/fs/cgroup/memory/docker/$id/memory.max_usage_in_bytes"; do
    if [ -r "$file" ]; then awk '{ printf "%.1f", $1 / 1048576 }' "$file"; return; fi
  done
  echo "n/a"
}

echo "### HTTP load on the backend (wrk, ${LOAD_SECONDS:=10} s per run, release image, PostgreSQL 15 container)"
echo
fresh_db
docker run -d --name bench-load --network "$network" -p 127.0.0.1::8000 --read-only --cap-drop ALL \
  -e DATABASE_URL="$url" -e BETTER_AUTH_SECRET="$secret" -e AUTH_RATE_LIMIT_PER_MINUTE=100000 \
  -e RUST_LOG=warn "$BACKEND_IMAGE" >/dev/null
port=$(docker port bench-load 8000/tcp | head -n1 | sed 's/.*://')
base="http://127.0.0.1:$port"
until curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; do sleep 0.05; done
session=$(curl -fsS -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"benchmark password","name":"Bench"}' "$base/api/auth/sign-up")
token=$(echo "$session" | jq -r .token)
user=$(echo "$session" | jq -r .user.id)
for i in $(seq 1 50); do
  curl -fsS -o /dev/null -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"title\":\"task $i\",\"priority\":\"high\",\"tags\":[\"bench\"]}" "$base/api/$user/tasks"
done
echo "| endpoint | connections | requests/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|---|"
load() { # label, connections, path, extra wrk args...
  local label=$1 connections=$2 path=$3; shift 3
  local out
  out=$(wrk --latency -t2 -c"$connections" -d"${LOAD_SECONDS}s" "$@" "$base$path")
  local rps p50 p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
  p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ { sub(/^ +/, ""); printf "%s; ", $0 }')
  echo "| $label | $connections | $rps | $p50 | $p99 | ${errors:-0} |"
}
for connections in 1 10 50; do
  load "\`GET /healthz\`" "$connections" /healthz
done
for connections in 1 10 50; do
  load "\`GET /api/{user_id}/tasks\` (50 tasks, JWT)" "$connections" "/api/$user/tasks" -H "authorization: Bearer $token"
done
echo
echo "Backend peak memory (cgroup) over the load runs: $(peak_mib bench-load) MiB."
