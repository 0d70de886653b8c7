#!/usr/bin/env bash
# `just bench [section...]`: image sizes, build times (cold, cached, one file changed), time from
# container start to ready, and HTTP load on the backend, measured on this machine. Prints a
# Markdown report; the figures in docs/benchmarks.md come from it. No thresholds: numbers are
# for people to compare. Sections: sizes builds start load cpu idle rss serialize pages scale (default:
# all but scale, which seeds up to a million tasks and takes a quarter of an hour).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${BACKEND_IMAGE:?set by the justfile}" "${WEB_IMAGE:?}" "${POSTGRES_IMAGE:?}" "${IMAGE_PREFIX:?}"
RUNS=${BENCH_RUNS:-5}
COLD=${BENCH_COLD:-1}
LOAD_SECONDS=${LOAD_SECONDS:-10}
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-1 10 50}
RSS_STEPS=${RSS_STEPS:-10}
RSS_STEP_SECONDS=${RSS_STEP_SECONDS:-20}
IDLE_SECONDS=${IDLE_SECONDS:-30}
CPU_RUNS=${CPU_RUNS:-5}
CPU_CONNECTIONS=${CPU_CONNECTIONS:-10}

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(sizes builds start load cpu idle rss serialize pages)
for section in "${sections[@]}"; do
  case "$section" in
    sizes|builds|start|load|cpu|idle|rss|serialize|pages|scale) ;;
    *) echo "bench.sh: unknown section '$section' (choose from: sizes builds start load cpu idle rss serialize pages scale)" >&2; exit 2 ;;
  esac
done

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f", m }'; }

network="bench-$$"
copy=""
cleanup() {
  docker rm -f bench-db bench-backend bench-web bench-load bench-cpu bench-rss bench-idle bench-pages bench-scale bench-scale-db >/dev/null 2>&1 || true
  docker network rm "$network" >/dev/null 2>&1 || true
  if [ -n "$copy" ]; then rm -rf "$copy"; fi
}
trap cleanup EXIT

sizes() {
  echo "### Image sizes"
  echo
  echo "| image | size (docker image inspect) |"
  echo "|---|---|"
  local ref
  for ref in "$BACKEND_IMAGE" "$WEB_IMAGE" "$POSTGRES_IMAGE"; do
    echo "| \`$ref\` | $(docker image inspect -f '{{.Size}}' "$ref" | awk '{ printf "%.2f MB", $1 / 1e6 }') |"
  done
  echo
  # What a visitor downloads: the app as shipped (after wasm-opt) and the precompressed copies
  # the web server picks by Accept-Encoding.
  local id dir file
  id=$(docker create "$WEB_IMAGE")
  dir=$(mktemp -d)
  docker export "$id" | tar -x -C "$dir" srv/web
  docker rm "$id" >/dev/null
  echo "| file in \`$WEB_IMAGE\` | raw | gzip | brotli |"
  echo "|---|---:|---:|---:|"
  for file in pkg/web_bg.wasm pkg/web.js style.css index.html; do
    [ -f "$dir/srv/web/$file" ] || continue
    echo "| \`$file\` | $(wc -c <"$dir/srv/web/$file") B | $(wc -c <"$dir/srv/web/$file.gz") B | $(wc -c <"$dir/srv/web/$file.br") B |"
  done
  rm -rf "$dir"
  echo
}

builds() {
  echo "### Build times"
  echo
  echo "| build | backend | web |"
  echo "|---|---|---|"
  row() { echo "| $1 | $2 s | $3 s |"; }
  build_time() { # directory, name, extra flags...
    local dir=$1 name=$2 start; shift 2
    start=$(now)
    (cd "$dir" && images/build.sh "$name" "$@" >/dev/null 2>&1)
    elapsed "$start"
  }
  row "nothing changed (all layers cached)" "$(build_time . backend)" "$(build_time . web)"

  # One source file edited: a copy of the tree with a comment appended, so cook stays cached.
  copy=$(mktemp -d)
  git ls-files -z | xargs -0 cp --parents -t "$copy"
  echo "// bench: $(date +%s%N)" >>"$copy/backend/src/lib.rs"
  echo "// bench: $(date +%s%N)" >>"$copy/web/src/main.rs"
  # Tagged `bench`, so the images of this commit stay as they are.
  copy_time() { REVISION=bench build_time "$copy" "$@"; }
  row "one source file changed (dependencies cached)" "$(copy_time backend)" "$(copy_time web)"
  if [ "$COLD" = 1 ]; then
    row "cold (--no-cache, toolchain image present)" "$(copy_time backend --no-cache)" "$(copy_time web --no-cache)"
  fi
  docker image rm "$IMAGE_PREFIX/backend:bench" "$IMAGE_PREFIX/web:bench" >/dev/null 2>&1 || true
  echo
}

url="postgres://todo:bench@bench-db:5432/todo"
secret=bench-secret-0123456789abcdef0123456789
database() {
  docker network inspect "$network" >/dev/null 2>&1 || docker network create "$network" >/dev/null
  if ! docker container inspect bench-db >/dev/null 2>&1; then
    docker run -d --name bench-db --network "$network" -e POSTGRES_USER=todo -e POSTGRES_PASSWORD=bench \
      -e POSTGRES_DB=todo "$POSTGRES_IMAGE" >/dev/null
  fi
  until docker exec bench-db pg_isready -q -h 127.0.0.1 -U todo -d todo; do sleep 0.2; done
}
fresh_db() {
  docker exec -e PGOPTIONS='-c client_min_messages=warning' bench-db \
    psql -q -U todo -d todo -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null
}

start() {
  echo "### Start to ready (median of $RUNS)"
  echo
  database
  time_to() { # container name, port, path, docker run args...
    local name=$1 port=$2 path=$3 start host_port; shift 3
    start=$(now)
    docker run -d --name "$name" --network "$network" -p "127.0.0.1::$port" --read-only --cap-drop ALL "$@" >/dev/null
    host_port=$(docker port "$name" "$port/tcp" | head -n1 | sed 's/.*://')
    until curl -fsS -o /dev/null "http://127.0.0.1:$host_port$path" 2>/dev/null; do sleep 0.01; done
    awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.0f\n", (b - a) * 1000 }'
  }
  local backend_fresh=() backend_warm=() web_ready=()
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
}

# Peak resident memory of a container's main process (VmHWM), in MiB, and of its whole cgroup
# (v2, then v1), which also counts the page cache of the binary.
peak_rss_mib() {
  local pid; pid=$(docker inspect -f '{{.State.Pid}}' "$1")
  awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "n/a"
}
peak_cgroup_mib() {
  local id file
  id=$(docker inspect -f '{{.Id}}' "$1")
  for file in "/sys/fs/cgroup/system.slice/docker-$id.scope/memory.peak" \
              "/sys/fs/cgroup/memory/docker/$id/memory.max_usage_in_bytes"; do
    if [ -r "$file" ]; then awk '{ printf "%.1f", $1 / 1048576 }' "$file"; return; fi
  done
  echo "n/a"
}

# Starts the backend image as container $1 (more `docker run` arguments after it) on the bench
# network, waits until it is ready and sets `base` to the address to load it through.
serve_backend() {
  local name=$1 port address; shift
  docker run -d --name "$name" --network "$network" -p 127.0.0.1::8000 --read-only --cap-drop ALL \
    -e DATABASE_URL="$url" -e BETTER_AUTH_SECRET="$secret" "$@" "$BACKEND_IMAGE" >/dev/null
  port=$(docker port "$name" 8000/tcp | head -n1 | sed 's/.*://')
  base="http://127.0.0.1:$port"
  until curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; do sleep 0.05; done
  # The published port goes through docker-proxy, which took half a core at 50 connections:
  # the container's own address (reachable from a Linux host) measures the backend instead.
  address=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
  if [ -n "$address" ] && curl -fsS -m 2 -o /dev/null "http://$address:8000/readyz" 2>/dev/null; then
    base="http://$address:8000"
  else
    echo "(through the published port: the container's address is not reachable from here)"
    echo
  fi
}

# Signs up one user at `base` and creates 50 tasks through the API; sets `token` and `user`.
fifty_tasks() {
  local session i
  session=$(curl -fsS -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"benchmark password","name":"Bench"}' "$base/api/auth/sign-up")
  token=$(echo "$session" | jq -r .token)
  user=$(echo "$session" | jq -r .user.id)
  for i in $(seq 1 50); do
    curl -fsS -o /dev/null -H "authorization: Bearer $token" -H 'content-type: application/json' \
      -d "{\"title\":\"task $i\",\"priority\":\"high\",\"tags\":[\"bench\"]}" "$base/api/$user/tasks"
  done
}

load() {
  echo "### HTTP load on the backend (wrk, $LOAD_SECONDS s per run, release image, PostgreSQL 15 container)"
  echo
  echo "wrk, PostgreSQL and the backend share this machine's $(nproc) cores."
  echo
  database
  fresh_db
  local extra_env=()
  settings_to_compare
  local base token user connections
  serve_backend bench-load -e AUTH_RATE_LIMIT_PER_MINUTE=100000 "${extra_env[@]}"
  fifty_tasks
  local rss_before; rss_before=$(peak_rss_mib bench-load)
  echo "| endpoint | connections | requests/s | p50 | p99 | errors |"
  echo "|---|---|---|---|---|---|"
  run_wrk() { # label, connections, path, extra wrk args...
    local label=$1 connections=$2 path=$3 out rps p50 p99 errors; shift 3
    # wrk wants at least one connection per thread.
    out=$(wrk --latency -t"$((connections < 2 ? 1 : 2))" -c"$connections" -d"${LOAD_SECONDS}s" "$@" "$base$path")
    rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
    p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
    p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ { sub(/^ +/, ""); printf "%s; ", $0 }')
    echo "| $label | $connections | $rps | $p50 | $p99 | ${errors:-0} |"
  }
  for connections in $LOAD_CONNECTIONS; do
    run_wrk "\`GET /healthz\`" "$connections" /healthz
  done
  for connections in $LOAD_CONNECTIONS; do
    run_wrk "\`GET /api/{user_id}/tasks\` (50 tasks, JWT)" "$connections" "/api/$user/tasks" \
      -H "authorization: Bearer $token"
  done
  # Sign-in runs one argon2id verification: the auth path's cost, and its memory under a burst.
  local sign_in; sign_in=$(mktemp)
  cat >"$sign_in" <<'LUA'
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"email":"bench@example.com","password":"benchmark password"}'
LUA
  for connections in $LOAD_CONNECTIONS; do
    run_wrk "\`POST /api/auth/sign-in\` (argon2id)" "$connections" /api/auth/sign-in -s "$sign_in"
  done
  rm -f "$sign_in"
  echo
  echo "Backend peak RSS (VmHWM): $rss_before MiB after the sign-up and the 50 tasks were created (one"
  echo "argon2id hash takes 19 MiB), $(peak_rss_mib bench-load) MiB after the load runs, sign-ins included. Container cgroup"
  echo "peak, which also counts the binary's page cache: $(peak_cgroup_mib bench-load) MiB."
  echo
}

# BENCH_BACKEND_ENV="NAME=value ...": backend settings to compare against the defaults, as
# `docker run` arguments in the caller's `extra_env` array, and said in the report.
settings_to_compare() {
  local setting
  for setting in ${BENCH_BACKEND_ENV:-}; do extra_env+=(-e "$setting"); done
  if [ ${#extra_env[@]} -gt 0 ]; then echo "Backend settings: \`${BENCH_BACKEND_ENV}\`"; echo; fi
}

# CPU per request of the 50-task page: each container's cgroup CPU time over a wrk run divided by
# the requests served, user and kernel time apart, repeated CPU_RUNS times (the machine is shared:
# compare ranges, and alternate images when comparing two).
cpu() {
  echo "### CPU per request: \`GET /api/{user_id}/tasks\`, 50 tasks (wrk -c$CPU_CONNECTIONS, $LOAD_SECONDS s, $CPU_RUNS runs)"
  echo
  echo "Backend \`$BACKEND_IMAGE\`. µs of each container's cgroup CPU (\`cpu.stat\`) per request: total (user + kernel)."
  echo
  database
  fresh_db
  local base token user run out served rps b0 bk0 p0 pk0 b1 bk1 p1 pk1
  local extra_env=()
  settings_to_compare
  serve_backend bench-cpu -e AUTH_RATE_LIMIT_PER_MINUTE=100000 "${extra_env[@]}"
  fifty_tasks
  # Warm-up: every pooled connection opened and its statements prepared.
  wrk -t2 -c"$CPU_CONNECTIONS" -d2s -H "authorization: Bearer $token" "$base/api/$user/tasks" >/dev/null
  echo "| run | requests/s | backend µs/req | backend kernel µs/req | PostgreSQL µs/req | PostgreSQL kernel µs/req |"
  echo "|---:|---:|---:|---:|---:|---:|"
  for run in $(seq 1 "$CPU_RUNS"); do
    read -r b0 bk0 <<<"$(cpu_stat bench-cpu)"; read -r p0 pk0 <<<"$(cpu_stat bench-db)"
    out=$(wrk -t2 -c"$CPU_CONNECTIONS" -d"${LOAD_SECONDS}s" -H "authorization: Bearer $token" "$base/api/$user/tasks")
    read -r b1 bk1 <<<"$(cpu_stat bench-cpu)"; read -r p1 pk1 <<<"$(cpu_stat bench-db)"
    served=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }')
    if echo "$out" | grep -q 'Non-2xx'; then rps="$rps (errors)"; fi
    served=$((served > 0 ? served : 1))
    echo "| $run | $rps | $(((b1 - b0) / served)) | $(((bk1 - bk0) / served)) | $(((p1 - p0) / served)) | $(((pk1 - pk0) / served)) |"
  done
  echo
  docker rm -f bench-cpu >/dev/null
}

# Resident memory of a container's main process now (VmRSS), in MiB.
rss_mib() {
  local pid; pid=$(docker inspect -f '{{.State.Pid}}' "$1")
  awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "n/a"
}

idle() {
  echo "### Backend memory at idle (schema applied at start, no requests but the readiness probe)"
  echo
  database
  fresh_db
  local base
  serve_backend bench-idle
  echo "| when | VmRSS | VmHWM (peak) |"
  echo "|---|---:|---:|"
  echo "| ready | $(rss_mib bench-idle) MiB | $(peak_rss_mib bench-idle) MiB |"
  sleep "$IDLE_SECONDS"
  echo "| $IDLE_SECONDS s later | $(rss_mib bench-idle) MiB | $(peak_rss_mib bench-idle) MiB |"
  echo
  docker rm -f bench-idle >/dev/null
}

rss() {
  echo "### Backend RSS under load with nobody scraping \`/metrics\` ($RSS_STEPS steps of $RSS_STEP_SECONDS s, wrk, 50 connections)"
  echo
  echo "Half the requests are \`GET /healthz\`; a quarter use a method never seen before, a quarter an unknown path."
  echo "The metrics must neither keep each latency sample until a scrape nor make a series per method or path."
  echo
  database
  fresh_db
  local base mix total=0 step out served
  serve_backend bench-rss
  mix=$(mktemp)
  cat >"$mix" <<'LUA'
local n = 0
request = function()
  n = n + 1
  if n % 4 == 0 then return wrk.format("M" .. n, "/healthz") end
  if n % 4 == 1 then return wrk.format("GET", "/no/such/" .. n) end
  return wrk.format("GET", "/healthz")
end
LUA
  echo "| step | requests so far | backend RSS (VmRSS) |"
  echo "|---|---:|---:|"
  echo "| start | 0 | $(rss_mib bench-rss) MiB |"
  for step in $(seq 1 "$RSS_STEPS"); do
    out=$(wrk -t2 -c50 -d"${RSS_STEP_SECONDS}s" -s "$mix" "$base/")
    served=$(echo "$out" | awk '/requests in/ { print $1 }')
    total=$((total + served))
    echo "| $step | $total | $(rss_mib bench-rss) MiB |"
  done
  rm -f "$mix"
  echo
  echo "Peak (VmHWM): $(peak_rss_mib bench-rss) MiB. Then one scrape of \`/metrics\` ($(curl -fsS "$base/metrics" | wc -c) bytes): $(rss_mib bench-rss) MiB."
  echo
  docker rm -f bench-rss >/dev/null
}

serialize() {
  echo "### Writing the JSON of a 50-task page (cargo bench, host build)"
  echo
  cargo bench --locked --quiet -p api-types --bench task_page 2>/dev/null
  echo
}

pages() {
  echo "### The web server's pages and files, one keep-alive connection (wrk -t1 -c1 -d${LOAD_SECONDS}s)"
  echo
  echo "Small answers used to wait for a delayed ACK between head and body (Nagle's algorithm):"
  echo "this is where that shows. No backend: these are the web image's own files."
  echo
  docker run -d --name bench-pages --user 1001:1001 --read-only --publish 127.0.0.1::3000 \
    --env BACKEND_URL=http://127.0.0.1:9 "$WEB_IMAGE" >/dev/null
  local base="http://127.0.0.1:$(docker port bench-pages 3000/tcp | head -n1 | sed 's/.*://')" path out
  for _ in $(seq 1 50); do curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && break; sleep 0.2; done
  echo "| path | bytes | requests/s | mean latency |"
  echo "|---|---:|---:|---:|"
  for path in / /signin /start.js /style.css /pkg/web.js; do
    out=$(wrk -t1 -c1 -d"${LOAD_SECONDS}s" --latency "$base$path")
    echo "| \`$path\` | $(curl -fsS "$base$path" | wc -c) | $(echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }') | $(echo "$out" | awk '/^    Latency/ { print $2 }') |"
  done
  echo
  docker rm -f bench-pages >/dev/null
}

# CPU time a container has used so far, "total kernel" in µs: cgroup v2's cpu.stat (systemd or
# cgroupfs layout), then v1's cpuacct (kernel 0 where it has no usage_sys).
cpu_stat() {
  local id file
  id=$(docker inspect -f '{{.Id}}' "$1")
  for file in "/sys/fs/cgroup/system.slice/docker-$id.scope/cpu.stat" "/sys/fs/cgroup/docker/$id/cpu.stat" \
              "/sys/fs/cgroup/unified/docker/$id/cpu.stat"; do
    if [ -r "$file" ]; then awk '$1 == "usage_usec" { u = $2 } $1 == "system_usec" { k = $2 } END { print u, k }' "$file"; return; fi
  done
  file="/sys/fs/cgroup/cpuacct/docker/$id"
  if [ -r "$file/cpuacct.usage" ]; then
    echo "$(($(cat "$file/cpuacct.usage") / 1000)) $(($(cat "$file/cpuacct.usage_sys" 2>/dev/null || echo 0) / 1000))"
  else
    echo "0 0"
  fi
}
cpu_usec() { cpu_stat "$1" | cut -d' ' -f1; }

# `count` tasks for one user straight into the table (psql variables: user, count), with ties on
# every sort key: ten tasks to the second, whole-day due dates, a third without one.
SCALE_SEED_SQL="
INSERT INTO tasks (user_id, title, description, priority, tags, due_at, completed, completed_at, created_at, updated_at)
SELECT :'user', (ARRAY['Pay', 'Call', 'Write', 'Fix', 'Buy', 'Plan'])[1 + i % 6] || ' '
         || (ARRAY['bills', 'the plumber', 'report', 'bike', 'groceries', 'trip', 'garden'])[1 + i % 7] || ' ' || i,
       CASE WHEN i % 3 = 0 THEN 'notes for task ' || i || ' about ' || (ARRAY['money', 'house', 'work', 'family'])[1 + i % 4] END,
       (ARRAY['low', 'medium', 'high'])[1 + i % 3]::task_priority,
       CASE i % 5 WHEN 0 THEN '{}'::text[] WHEN 1 THEN '{work}' WHEN 2 THEN '{home,errands}' WHEN 3 THEN '{work,urgent}' ELSE '{bench}' END,
       CASE WHEN i % 3 <> 0 THEN timestamptz '2027-01-01' + (i % 400) * interval '1 day' END,
       i % 4 = 0, CASE WHEN i % 4 = 0 THEN timestamptz '2026-11-01' END,
       timestamptz '2026-01-01' + (i / 10) * interval '1 second', timestamptz '2026-01-01'
FROM generate_series(1, :count) AS i;"

scale() {
  local seconds=${SCALE_SECONDS:-5} connections=${SCALE_CONNECTIONS:-4}
  echo "### Task list at scale (wrk -c$connections, $seconds s per run, release image, PostgreSQL 15 container)"
  echo
  echo "Backend \`$BACKEND_IMAGE\`. One user's tasks seeded with SQL (ties on every sort key), then"
  echo "\`VACUUM ANALYZE\`. First page: \`limit=50\`. Deep page: \`offset\` half-way down the list, and the"
  echo "\`cursor\` the API returns for the same place when it has cursors. CPU: µs of the container's"
  echo "cgroup per request, during the first-page run."
  echo
  # Its own database container: a million rows would outlive the other sections' fresh_db.
  docker network inspect "$network" >/dev/null 2>&1 || docker network create "$network" >/dev/null
  docker run -d --name bench-scale-db --network "$network" -e POSTGRES_USER=todo -e POSTGRES_PASSWORD=bench \
    -e POSTGRES_DB=todo "$POSTGRES_IMAGE" >/dev/null
  until docker exec bench-scale-db pg_isready -q -h 127.0.0.1 -U todo -d todo; do sleep 0.2; done
  local base session token user url="postgres://todo:bench@bench-scale-db:5432/todo"
  # Without the page cache: this measures reading a page as the data grows, and wrk asks for the
  # same page over and over, which the cache would answer after a version read whatever the size.
  serve_backend bench-scale -e AUTH_RATE_LIMIT_PER_MINUTE=100000 -e TASK_PAGE_CACHE_MIB=0
  session=$(curl -fsS -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"benchmark password","name":"Bench"}' "$base/api/auth/sign-up")
  token=$(echo "$session" | jq -r .token)
  user=$(echo "$session" | jq -r .user.id)
  psql_db() { docker exec -i -e PGOPTIONS='-c client_min_messages=warning' bench-scale-db psql -q -v ON_ERROR_STOP=1 -U todo -d todo "$@"; }
  rate() { # path -> "requests/s backend-µs postgres-µs"
    local out b0 p0 b1 p1 served
    b0=$(cpu_usec bench-scale); p0=$(cpu_usec bench-scale-db)
    out=$(wrk -t2 -c"$connections" -d"${seconds}s" -H "authorization: Bearer $token" "$base$1")
    b1=$(cpu_usec bench-scale); p1=$(cpu_usec bench-scale-db)
    served=$(echo "$out" | awk '/requests in/ { print $1 }')
    if echo "$out" | grep -q 'Non-2xx'; then echo "errors - -"; return; fi
    echo "$(echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }') $(( (b1 - b0) / (served > 0 ? served : 1) )) $(( (p1 - p0) / (served > 0 ? served : 1) ))"
  }
  local queries=(
    "" "sort=due" "sort=due&order=asc" "sort=priority" "sort=title&order=asc"
    "status=pending" "priority=high" "tag=urgent" "due_before=2027-02-01T00:00:00Z"
    "q=bike" "q=bike%2099"
  )
  echo "| tasks | query | first page req/s | backend µs/req | PostgreSQL µs/req | deep \`offset\` req/s | deep \`cursor\` req/s |"
  echo "|---:|---|---:|---:|---:|---:|---:|"
  local count query path first deep cursor label
  for count in ${SCALE_COUNTS:-50 1000 100000}; do
    psql_db -c "DELETE FROM tasks" -c "VACUUM ANALYZE tasks" >/dev/null
    echo "$SCALE_SEED_SQL" | psql_db -v user="$user" -v count="$count" >/dev/null
    psql_db -c "VACUUM ANALYZE tasks" >/dev/null
    for query in "${queries[@]}"; do
      path="/api/$user/tasks?limit=50${query:+&$query}"
      read -r first b p <<<"$(rate "$path")"
      deep="$(rate "$path&offset=$((count / 2))" | cut -d' ' -f1)"
      cursor=$(curl -fsS -H "authorization: Bearer $token" "$base$path&offset=$((count / 2 - 50 > 0 ? count / 2 - 50 : 0))" \
        | jq -r '.next_cursor // empty')
      if [ -n "$cursor" ]; then cursor="$(rate "$path&cursor=$cursor" | cut -d' ' -f1)"; else cursor="-"; fi
      label=${query:-"(default: created, desc)"}
      echo "| $count | \`$label\` | $first | $b | $p | $deep | $cursor |"
    done
  done
  if [ "${SCALE_SPREAD:-1}" = 1 ]; then
    # A million tasks over 10,000 users: the bench user keeps 100 of them.
    psql_db -c "DELETE FROM tasks" >/dev/null
    psql_db -c "INSERT INTO users (email, name, password_hash)
                SELECT 'spread' || u || '@example.com', 'Spread ' || u, 'x' FROM generate_series(1, 9999) AS u" >/dev/null
    echo "$SCALE_SEED_SQL" | sed "s/SELECT :'user',/SELECT u.id,/; s/FROM generate_series(1, :count) AS i;/FROM users AS u CROSS JOIN generate_series(1, 100) AS i;/" \
      | psql_db >/dev/null
    psql_db -c "VACUUM ANALYZE tasks" >/dev/null
    for query in "${queries[@]}"; do
      path="/api/$user/tasks?limit=50${query:+&$query}"
      read -r first b p <<<"$(rate "$path")"
      label=${query:-"(default: created, desc)"}
      echo "| 100 of 1,000,000 (10,000 users) | \`$label\` | $first | $b | $p | $(rate "$path&offset=50" | cut -d' ' -f1) | - |"
    done
  fi
  echo
  docker rm -f bench-scale bench-scale-db >/dev/null
}

echo "## Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), docker $(docker version -f '{{.Server.Version}}')"
echo
for section in "${sections[@]}"; do
  "$section"
done
