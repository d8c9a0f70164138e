#!/usr/bin/env bash
# Escalation router benchmark: one router instance on a backlog of classified posts,
# through the dev broker and a real redis-server on this machine.
#   scripts/bench-router.sh [BINDIR]   (default build-rtr-rel/bin; `make bench-router`)
# Environment: BENCH_COUNT (posts, default 200000), BENCH_CUSTOMERS (default 20000),
# BENCH_PARTITIONS (default 16; the dev broker keeps 5 MiB per partition), BENCH_PERF=FILE
# (record the router with `perf record -g` and write the report's top to FILE),
# BENCH_PERF_REDIS=FILE (the same for redis-server during the run).
# It starts redis-server and socialcare-devbroker in a temp dir, produces the backlog with
# socialcare-router-bench, starts socialcare-escalation-router, and times the router from
# its first applied post to the last (socialcare_router_posts_total on /metrics), then
# prints the throughput and the router's batch and Redis figures. Everything it started is
# stopped on exit.
set -euo pipefail
BIN=${1:-build-rtr-rel/bin}
COUNT=${BENCH_COUNT:-200000}
CUSTOMERS=${BENCH_CUSTOMERS:-20000}
PARTITIONS=${BENCH_PARTITIONS:-16}
WORK=$(mktemp -d /tmp/sc-bench-router.XXXXXX)
PIDS=()
cleanup() {
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[$i]}" 2>/dev/null || true
        wait "${PIDS[$i]}" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
[ -n "${BENCH_KEEP_LOG:-}" ] && trap "cp \"$WORK/router.err\" \"$BENCH_KEEP_LOG\"; cleanup" EXIT

now_ms() { date +%s%3N; }

cpu_ticks() { # pid: utime+stime of the process and its threads, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

wait_for() { # file needle seconds
    local deadline=$(($(date +%s) + $3))
    until grep -q "$2" "$1" 2>/dev/null; do
        if (($(date +%s) > deadline)); then
            echo "bench-router: timed out waiting for '$2' in $1" >&2
            return 1
        fi
        sleep 0.05
    done
}

# redis-server on a free port (retry on a taken one)
for _ in 1 2 3 4 5 6 7 8 9 10; do
    RPORT=$((20000 + RANDOM % 30000))
    redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$WORK" >"$WORK/redis.log" 2>&1 &
    RPID=$!
    ok=0
    for _ in $(seq 100); do
        if redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG; then ok=1; break; fi
        kill -0 "$RPID" 2>/dev/null || break
        sleep 0.05
    done
    if [ $ok = 1 ]; then PIDS+=("$RPID"); break; fi
    kill "$RPID" 2>/dev/null || true
done
[ "${ok:-0}" = 1 ] || { echo "bench-router: redis-server did not start" >&2; exit 1; }

"$BIN/socialcare-devbroker" --partitions "$PARTITIONS" --bootstrap-file "$WORK/bootstrap" \
    --log-level warning >"$WORK/broker.out" 2>"$WORK/broker.err" &
BROKER_PID=$!
PIDS+=("$BROKER_PID")
wait_for "$WORK/broker.out" "ready" 30
BOOTSTRAP=$(cat "$WORK/bootstrap")

echo "== backlog: $COUNT classified posts from $CUSTOMERS customers, $PARTITIONS partitions"
"$BIN/socialcare-router-bench" --brokers "$BOOTSTRAP" --count "$COUNT" \
    --customers "$CUSTOMERS"

PERF=()
if [ -n "${BENCH_PERF:-}" ]; then PERF=(perf record -g -o "$WORK/perf.data" --); fi
env KAFKA_BROKERS="$BOOTSTRAP" REDIS_URL="redis://127.0.0.1:$RPORT/0" HTTP_PORT=0 \
    HTTP_BIND=127.0.0.1 LOG_LEVEL=warning KAFKA_SESSION_TIMEOUT_MS=6000 \
    KAFKA_HEARTBEAT_INTERVAL_MS=500 KAFKA_FETCH_WAIT_MAX_MS=10 \
    ${PERF[@]+"${PERF[@]}"} "$BIN/socialcare-escalation-router" >"$WORK/router.out" \
    2>"$WORK/router.err" &
ROUTER_PID=$!
PIDS+=("$ROUTER_PID")
wait_for "$WORK/router.out" "ready port=" 30
if [ -n "${BENCH_PERF:-}" ]; then # time the router, not perf
    ROUTER_PID=$(pgrep -P "$ROUTER_PID" -f socialcare-escalation-router | head -n 1)
fi
PORT=$(sed -n 's/.* ready port=\([0-9]*\).*/\1/p' "$WORK/router.out" | head -n 1)

if [ -n "${BENCH_PERF_REDIS:-}" ]; then
    perf record -g -p "$RPID" -o "$WORK/perf-redis.data" >/dev/null 2>&1 &
    PERF_REDIS_PID=$!
fi

applied() {
    curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
        awk '/^socialcare_router_posts_total\{/ { s += $NF } END { printf "%d\n", s }'
}
deadline=$(($(date +%s) + 600))
first=0
t_first=0
n=0
while :; do
    n=$(applied)
    t=$(now_ms)
    if [ "$first" = 0 ] && [ "$n" -gt 0 ]; then
        first=$n
        t_first=$t
        c0_router=$(cpu_ticks "$ROUTER_PID")
        c0_redis=$(cpu_ticks "$RPID")
        c0_broker=$(cpu_ticks "$BROKER_PID")
    fi
    if [ "$n" -ge "$COUNT" ]; then break; fi
    if (($(date +%s) > deadline)); then
        echo "bench-router: only $n of $COUNT posts applied" >&2
        tail -n 20 "$WORK/router.err" >&2
        exit 1
    fi
    sleep 0.02
done
elapsed=$((t - t_first))
rate=$(awk -v n="$((n - first))" -v ms="$elapsed" 'BEGIN { printf "%.0f", n * 1000 / ms }')
c1_router=$(cpu_ticks "$ROUTER_PID")
c1_redis=$(cpu_ticks "$RPID")
c1_broker=$(cpu_ticks "$BROKER_PID")
echo "== router: $((n - first)) posts applied in ${elapsed} ms after the first: $rate posts/s"
awk -v n="$((n - first))" -v hz="$(getconf CLK_TCK)" -v r="$((c1_router - c0_router))" \
    -v d="$((c1_redis - c0_redis))" -v b="$((c1_broker - c0_broker))" 'BEGIN {
    printf "== cpu during the run: router %.2f s (%.0f posts per router CPU-second), ", r / hz, r ? n * hz / r : 0
    printf "redis %.2f s (%.1f us/post), broker %.2f s (%.1f us/post)\n", d / hz, d * 1e6 / hz / n, b / hz, b * 1e6 / hz / n
}'
echo "== load average: $(cat /proc/loadavg)"
curl -fsS "http://127.0.0.1:$PORT/metrics" |
    grep -E '^socialcare_(batches_total|batch_duration_seconds_(sum|count)|router_acknowledgements_total|router_cases_opened_total|router_incidents_total)' || true
redis-cli -p "$RPORT" info commandstats | grep -E 'evalsha|zadd|sadd|hset:|hmget|hget:|rpush|pexpire' | tr -d '\r' || true
echo "== redis: $(redis-cli -p "$RPORT" info stats | grep -E '^total_commands_processed' | tr -d '\r'), $(redis-cli -p "$RPORT" dbsize | tr -d '\r') keys"
if [ -n "${BENCH_PERF_REDIS:-}" ]; then
    kill -INT "$PERF_REDIS_PID" 2>/dev/null || true
    wait "$PERF_REDIS_PID" 2>/dev/null || true
    perf report -i "$WORK/perf-redis.data" --no-children --percent-limit 0.7 --stdio \
        2>/dev/null | grep -E '^ +[0-9]' | head -n 80 >"$BENCH_PERF_REDIS" || true
    echo "== perf report (redis): $BENCH_PERF_REDIS"
fi
if [ -n "${BENCH_PERF:-}" ]; then
    kill -INT "${PIDS[-1]}" 2>/dev/null || true
    wait "${PIDS[-1]}" 2>/dev/null || true
    perf report -i "$WORK/perf.data" --children -g none --percent-limit 1.5 --stdio 2>/dev/null |
        grep -v '^$' | head -n 200 >"$BENCH_PERF"
    perf report -i "$WORK/perf.data" --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9]' \
        >>"$BENCH_PERF" || true
    perf report -i "$WORK/perf.data" --no-children --sort dso --stdio 2>/dev/null |
        grep -E '^ +[0-9]' >>"$BENCH_PERF" || true
    echo "== perf report: $BENCH_PERF"
fi
