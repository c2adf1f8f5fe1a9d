#!/usr/bin/env bash
# Fleet ingest benchmark: a release atalaya-server and atalaya-fleet-sim side by side on this
# machine, a fresh database per run. See BENCHMARKS.md, "Fleet ingest".
#
#   fleet-sim/bench/ingest.sh BACKEND AGENTS INTERVAL DURATION [more atalaya-fleet-sim flags]
#
#   BACKEND   sqlite (a fresh data directory) or postgres (a fresh database on $PG_URL)
#   AGENTS    simulated agents; INTERVAL, DURATION in seconds
#
# Environment: BIN_DIR (the release binaries; default $CARGO_TARGET_DIR/release or
# target/release), OUT (results directory; default bench-results), PG_URL (default
# postgres://postgres@127.0.0.1), PERF_SECS (record a `perf` profile of the server for this many
# seconds, starting PERF_DELAY seconds after the simulator starts; default none), REPLICAS
# (postgres only: this many atalaya-server processes on the one database, agents spread evenly
# over them; their CPU times are added; default 1), SERVER_LOG (the server's RUST_LOG; default
# warn; warn,atalaya_server::ingest::offline=info also logs what each offline sweep opened). The
# server is told the fleet's INTERVAL (ATALAYA_REPORT_INTERVAL), so the default "Agent offline"
# rule (three missed intervals) fits it.
# Build first: cargo build --release -p atalaya-server -p atalaya-fleet-sim
set -euo pipefail

if [ $# -lt 4 ]; then
    sed -n '2,20p' "$0" >&2
    exit 2
fi
backend=$1 agents=$2 interval=$3 duration=$4
shift 4
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
OUT=${OUT:-bench-results}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1}
mkdir -p "$OUT"
name="$OUT/${backend}-${agents}a-${interval}s-$(date +%Y%m%dT%H%M%S)"
data=$(mktemp -d /tmp/atalaya-bench.XXXXXX)
pg_db=""

case $backend in
sqlite)
    db_args=()
    size_cmd="sqlite3 $data/atalaya.db 'select (page_count - freelist_count) * page_size from pragma_page_count, pragma_freelist_count, pragma_page_size'"
    ;;
postgres)
    pg_db="atalaya_bench_$(date +%s)_$$"
    psql "$PG_URL/postgres" -qc "CREATE DATABASE $pg_db"
    db_args=(--database-url "$PG_URL/$pg_db")
    size_cmd="psql '$PG_URL/$pg_db' -Atc 'select pg_database_size(current_database())'"
    ;;
*)
    echo "BACKEND must be sqlite or postgres" >&2
    exit 2
    ;;
esac

whole=${interval%.*}
report_interval=$(( ${whole:-0} < 5 ? 5 : whole ))  # the server accepts 5 s at least
REPLICAS=${REPLICAS:-1}
if [ "$REPLICAS" -gt 1 ] && [ "$backend" != postgres ]; then
    echo "REPLICAS needs the postgres backend (replicas share one database)" >&2
    exit 2
fi
server_pids=()
server_urls=()
cleanup() {
    for pid in "${server_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$pg_db" ]; then
        psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT

# Start one server (replica number $1, data directory $2); its URL goes to $started_url.
start_server() {
    local n=$1 dir=$2 log="$name.server.log"
    started_url=""
    [ "$n" -gt 0 ] && log="$name.server$n.log"
    RUST_LOG=${SERVER_LOG:-warn} ATALAYA_REPORT_INTERVAL=$report_interval "$BIN_DIR/atalaya-server" --listen 127.0.0.1:0 --data-dir "$dir" "${db_args[@]}" \
        >"$dir/server.out" 2>"$log" &
    server_pids+=($!)
    for _ in $(seq 1 600); do
        started_url=$(sed -n 's/^atalaya-server listening on //p' "$dir/server.out")
        [ -n "$started_url" ] && break
        sleep 0.1
    done
    [ -n "$started_url" ] || { echo "server $n did not start" >&2; cat "$log" >&2; exit 1; }
    server_urls+=("$started_url")
}
start_server 0 "$data"
url=$started_url
server_pid=${server_pids[0]}
replica_args=()
for n in $(seq 1 $((REPLICAS - 1))); do
    # The other replicas join the initialised database; the operator copies the tokens along.
    mkdir -p "$data/replica$n"
    cp "$data"/initial-*-token "$data/replica$n/"
    start_server "$n" "$data/replica$n"
    replica_args+=(--replica "$started_url")
done
pid_args=()
for pid in "${server_pids[@]}"; do pid_args+=(--server-pid "$pid"); done

{
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "command: REPLICAS=$REPLICAS $0 $backend $agents $interval $duration $*"
    echo "load before: $(uptime)"
    if [ "$backend" = postgres ]; then
        # What a PostgreSQL figure depends on most (BENCHMARKS.md, "Fleet ingest", session 8).
        echo "postgresql: $(psql "$PG_URL/$pg_db" -Atc "select string_agg(name || '=' || current_setting(name), ' ' order by name) from pg_settings where name in ('shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'wal_compression', 'synchronous_commit')")"
    fi
} >"$name.txt"

perf_pid=""
if [ -n "${PERF_SECS:-}" ]; then
    (sleep "${PERF_DELAY:-30}" && perf record -F 499 -g -p "$server_pid" -o "$name.perf.data" \
        -- sleep "$PERF_SECS" >/dev/null 2>&1) &
    perf_pid=$!
fi

"$BIN_DIR/atalaya-fleet-sim" --server "$url" --data-dir "$data" --agents "$agents" \
    --interval "$interval" --duration "$duration" "${replica_args[@]}" "${pid_args[@]}" \
    --database-size-command "$size_cmd" --json-out "$name.json" "$@" | tee -a "$name.txt"
echo "load after: $(uptime)" | tee -a "$name.txt"
# The servers' report counters (stored, duplicate, group-committed and their transactions).
for server_url in "${server_urls[@]}"; do
    curl -sf "$server_url/metrics" | grep -E '^atalaya_report' | tr '\n' ' ' | sed 's/^/counters: /;s/ $/\n/' | tee -a "$name.txt" || true
done
if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    echo "profile: perf report -i $name.perf.data --no-children --sort symbol"
fi
echo "results: $name.txt $name.json"
