#!/usr/bin/env bash
# Responder benchmarks (release build; `make bench-responder`):
#   scripts/bench-responder.sh [BINDIR]   (default build-rsp-rel/bin)
# 1. rate-limit decisions/s: socialcare-responder-bench ratelimit against a real
#    redis-server (EVALSHA of the GCRA script, BENCH_PER_CALL decisions per call, default
#    64; the engine puts up to 128 in one call; 16 calls pipelined);
# 2. replies/s through the platform client alone: socialcare-responder-bench send to the
#    local platform peer (Mastodon, X and webhook APIs, limits off);
# 3. replies/s through the responder service: a backlog of BENCH_COUNT agent replies on
#    replies.outbound (dev broker), one socialcare-responder with RATE_LIMITS=false sending
#    to the peer's Mastodon API, timed from its first reported reply to the last
#    (socialcare_responder_replies_total{status="sent"} on /metrics), with the CPU seconds
#    each process used meanwhile and the replies per CPU-second of the responder.
# Environment: BENCH_COUNT (default 50000), BENCH_DECISIONS (default 1000000),
# BENCH_PER_CALL (decisions per script call, default 64),
# BENCH_ONLY=service (only the service measurement),
# BENCH_CONNECTIONS (the service's REPLY_MAX_CONNECTIONS, default 16),
# BENCH_PEER_THREADS (the peer's epoll threads, default 2; 0 = a thread per connection),
# BENCH_PERF=FILE (record the responder with `perf record -g`; FILE gets the samples per
# thread and the hottest symbols).
# Everything it started is stopped on exit.
set -euo pipefail
BIN=${1:-build-rsp-rel/bin}
COUNT=${BENCH_COUNT:-50000}
DECISIONS=${BENCH_DECISIONS:-1000000}
WORK=$(mktemp -d /tmp/sc-bench-responder.XXXXXX)
PIDS=()
cleanup() {
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[$i]}" 2>/dev/null || true
        wait "${PIDS[$i]}" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# CPU seconds (user + system, all threads) a process has used so far.
cpu_s() {
    awk -v t="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null ||
        echo 0
}

wait_for() { # file needle seconds
    local deadline=$(($(date +%s) + $3))
    until grep -q "$2" "$1" 2>/dev/null; do
        if (($(date +%s) > deadline)); then
            echo "bench-responder: timed out waiting for '$2' in $1" >&2
            return 1
        fi
        sleep 0.05
    done
}

# redis-server on a free port (retry on a taken one)
for _ in 1 2 3 4 5 6 7 8 9 10; do
    RPORT=$((20000 + RANDOM % 30000))
    redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
        >"$WORK/redis.log" 2>&1 &
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
[ "${ok:-0}" = 1 ] || { echo "bench-responder: redis-server did not start" >&2; exit 1; }

if [ "${BENCH_ONLY:-}" != service ]; then
    echo "== rate-limit decisions against redis-server ($DECISIONS decisions)"
    "$BIN/socialcare-responder-bench" ratelimit --redis "redis://127.0.0.1:$RPORT/0" \
        --decisions "$DECISIONS" --per-call "${BENCH_PER_CALL:-64}" --pipeline 16 2>/dev/null
    redis-cli -p "$RPORT" flushall >/dev/null
fi

"$BIN/socialcare-platform-peer" --port 0 --token bench-token \
    --threads "${BENCH_PEER_THREADS:-2}" >"$WORK/peer.out" \
    2>"$WORK/peer.err" &
PEER_PID=$!
PIDS+=($PEER_PID)
wait_for "$WORK/peer.out" "ready port=" 10
PPORT=$(sed -n 's/.* ready port=\([0-9]*\).*/\1/p' "$WORK/peer.out" | head -n 1)

if [ "${BENCH_ONLY:-}" != service ]; then
    echo "== platform client to the local peer (30000 replies each, 16 connections)"
    for p in mastodon x generic; do
        "$BIN/socialcare-responder-bench" send --url "http://127.0.0.1:$PPORT" \
            --platform "$p" --token bench-token --replies 30000 --connections 16 2>/dev/null
    done
fi

"$BIN/socialcare-devbroker" --partitions 4 --bootstrap-file "$WORK/bootstrap" \
    --log-level warning >"$WORK/broker.out" 2>"$WORK/broker.err" &
BROKER_PID=$!
PIDS+=($BROKER_PID)
wait_for "$WORK/broker.out" "ready" 30
BOOTSTRAP=$(cat "$WORK/bootstrap")

echo "== responder service: backlog of $COUNT replies, rate limits off"
"$BIN/socialcare-responder-bench" produce --brokers "$BOOTSTRAP" --replies "$COUNT" \
    2>/dev/null
PERF=()
if [ -n "${BENCH_PERF:-}" ]; then PERF=(perf record -F 999 -g -o "$WORK/perf.data" --); fi
env KAFKA_BROKERS="$BOOTSTRAP" REDIS_URL="redis://127.0.0.1:$RPORT/0" HTTP_PORT=0 \
    HTTP_BIND=127.0.0.1 LOG_LEVEL=warning KAFKA_SESSION_TIMEOUT_MS=6000 \
    KAFKA_HEARTBEAT_INTERVAL_MS=500 KAFKA_FETCH_WAIT_MAX_MS=10 RATE_LIMITS=false \
    MASTODON_URL="http://127.0.0.1:$PPORT" MASTODON_TOKEN=bench-token \
    REPLY_MAX_CONNECTIONS=${BENCH_CONNECTIONS:-16} ${PERF[@]+"${PERF[@]}"} "$BIN/socialcare-responder" \
    >"$WORK/responder.out" \
    2>"$WORK/responder.err" &
SVC_PID=$!
PIDS+=($SVC_PID)
wait_for "$WORK/responder.out" "ready port=" 30
if [ -n "${BENCH_PERF:-}" ]; then SVC_PID=$(pgrep -P "$SVC_PID" | head -n 1); fi
SPORT=$(sed -n 's/.* ready port=\([0-9]*\).*/\1/p' "$WORK/responder.out" | head -n 1)
sent() {
    curl -s "http://127.0.0.1:$SPORT/metrics" |
        sed -n 's/^socialcare_responder_replies_total{status="sent"} \([0-9.e+]*\)$/\1/p' |
        awk '{printf "%d", $1}'
}
first=0
start=0
cpu0=()
deadline=$(($(date +%s) + 600))
while :; do
    n=$(sent)
    n=${n:-0}
    if [ "$first" = 0 ] && [ "$n" -gt 0 ]; then
        first=$n
        start=$(now_ms)
        cpu0=("$(cpu_s "$SVC_PID")" "$(cpu_s "$PEER_PID")" "$(cpu_s "$RPID")" "$(cpu_s "$BROKER_PID")")
    fi
    [ "$n" -ge "$COUNT" ] && break
    if (($(date +%s) > deadline)); then echo "bench-responder: timed out at $n" >&2; exit 1; fi
    sleep 0.02
done
end=$(now_ms)
cpu1=("$(cpu_s "$SVC_PID")" "$(cpu_s "$PEER_PID")" "$(cpu_s "$RPID")" "$(cpu_s "$BROKER_PID")")
ms=$((end - start))
[ "$ms" -gt 0 ] || ms=1
# CPU seconds each process used while timed, and the responder's replies per CPU-second
# (with perf attached the responder's figure includes nothing of perf itself).
cpu=$(awk -v a="${cpu0[*]}" -v b="${cpu1[*]}" -v n=$((COUNT - first)) 'BEGIN {
    split(a, x, " "); split(b, y, " ");
    r = y[1] - x[1]; p = y[2] - x[2]; d = y[3] - x[3]; k = y[4] - x[4];
    printf "\"cpu_s\":{\"responder\":%.2f,\"peer\":%.2f,\"redis\":%.2f,\"broker\":%.2f},", r, p, d, k;
    printf "\"replies_per_responder_cpu_s\":%d", (r > 0 ? n / r : 0) }')
echo "{\"bench\":\"service\",\"replies\":$COUNT,\"timed\":$((COUNT - first)),\"ms\":$ms,\"replies_per_s\":$(((COUNT - first) * 1000 / ms)),$cpu,\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
curl -s "http://127.0.0.1:$PPORT/stats"
echo
curl -s "http://127.0.0.1:$SPORT/metrics" |
    grep -E '^socialcare_(batches_total|messages_processed_total|batch_duration_seconds_(sum|count))' ||
    true
if [ -n "${BENCH_PERF:-}" ]; then
    kill -INT "${PIDS[${#PIDS[@]} - 1]}" 2>/dev/null || true
    wait "${PIDS[${#PIDS[@]} - 1]}" 2>/dev/null || true
    {
        echo "# samples per thread"
        perf report -i "$WORK/perf.data" --no-children --stdio -g none --sort comm 2>/dev/null |
            grep -v '^#' | grep '%'
        echo "# hottest symbols (self)"
        perf report -i "$WORK/perf.data" --no-children --stdio -g none --sort comm,dso,sym \
            2>/dev/null | grep -v '^#' | grep '%' | head -60
    } >"$BENCH_PERF"
fi
