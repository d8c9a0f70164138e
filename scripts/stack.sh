#!/usr/bin/env bash
# Runs the whole socialcare pipeline on this machine: redis-server and the Kafka dev broker on
# free loopback ports, the reply sink (a stand-in platform), the four services, and a
# generated demo stream replayed through the ingestor. Logs and state live in .demo/ under the
# repository root.
#   stack.sh demo <bindir>   run the stream through, print the tap's summary last, stop
#                            everything, exit with the tap's status (0 = every post through)
#   stack.sh up <bindir>     same stack, print the endpoints, run until Ctrl-C
# Environment: DEMO_COUNT (lines of demo stream, default 3000; 0 = no stream in `up`),
# DEMO_SEED (default 1), DEMO_RATE (replay pace in posts/s, default 500; 0 = all at once,
# which measures how fast a backlog drains rather than latency), DEMO_TIMEOUT (seconds the
# tap waits, default 120),
# STACK_READY_TIMEOUT (seconds each component may take to start, default 30),
# STACK_STOP_TIMEOUT (seconds each may take to exit after SIGTERM, default 15),
# STACK_PARTITIONS (default 8), LOG_LEVEL (services, default info), STACK_API_TOKEN (bearer
# token of the router's case API and the responder's agent API, default local-dev-token).
# STACK_FETCH_WAIT_MS (consumers' fetch.wait.max.ms, default 2: the dev broker holds an empty
# fetch for the whole wait even when data arrives) and STACK_LINGER_MS (producers' linger.ms,
# default 1) trade a little CPU for latency; both measured in docs/benchmarks/pipeline.md.
# STACK_COMPRESSION (producers' compression.type, default none: on loopback compression only
# costs CPU, which the services share with the broker — 18 % of the pipeline's CPU in
# docs/benchmarks/pipeline.md; the services' own default stays lz4, for brokers across a
# network; keep a long replay's backlog under the dev broker's 5 MiB per partition).
# STACK_TAP_DEFER_MS (default 0): when set, the tap reads the topics only after their ends
# stood still that long instead of following them live (make bench: the observer then takes
# no CPU from the pipeline; its figures come from broker timestamps either way).
# Every process is started in its own session (so Ctrl-C reaches only this script, which then
# stops them in order) and a trap stops whatever is still running on any exit.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK="$ROOT/.demo"
MODE="${1:-}"
BIN_ARG="${2:-}"

DEMO_COUNT="${DEMO_COUNT:-3000}"
DEMO_SEED="${DEMO_SEED:-1}"
DEMO_RATE="${DEMO_RATE:-500}"
DEMO_TIMEOUT="${DEMO_TIMEOUT:-120}"
READY_TIMEOUT="${STACK_READY_TIMEOUT:-30}"
PARTITIONS="${STACK_PARTITIONS:-8}"
STOP_TIMEOUT="${STACK_STOP_TIMEOUT:-15}" # seconds to exit after SIGTERM (services drain in 10)

say() { printf 'stack: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 2
}

usage() {
    echo "usage: $0 demo|up <bindir>" >&2
    exit 2
}

case "$MODE" in
    demo | up) ;;
    *) usage ;;
esac
[ -n "$BIN_ARG" ] || usage
[ -d "$BIN_ARG" ] || die "no such directory: $BIN_ARG (run make build)"
BIN=$(cd "$BIN_ARG" && pwd)
for prog in devbroker ingestor classifier escalation-router responder reply-sink demo-gen tap; do
    [ -x "$BIN/socialcare-$prog" ] || die "missing $BIN/socialcare-$prog (run make build)"
done
command -v redis-server >/dev/null || die "redis-server not found (run make deps)"
command -v curl >/dev/null || die "curl not found (run make deps)"

# ------------------------------------------------------------------ process bookkeeping

NAMES=() # component names, in start order
PIDS=()  # their process ids
SETSID=""
command -v setsid >/dev/null && SETSID=setsid
CLEANED=0

mkdir -p "$WORK"
if [ -f "$WORK/stack.pid" ]; then
    other=$(cat "$WORK/stack.pid" 2>/dev/null || true)
    if [ -n "$other" ] && [ "$other" != "$$" ] && kill -0 "$other" 2>/dev/null &&
        grep -q stack.sh "/proc/$other/cmdline" 2>/dev/null; then
        die "another stack (pid $other) is using $WORK; stop it first"
    fi
fi
echo $$ >"$WORK/stack.pid"
rm -f "$WORK"/*.log "$WORK"/*.out "$WORK/bootstrap" "$WORK/summary.txt" "$WORK/env"

# True while pid runs (a zombie that is not reaped yet counts as gone).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    if [ -r "/proc/$1/stat" ]; then
        local stat
        stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        stat=${stat##*) }
        [ "${stat%% *}" != "Z" ] || return 1
    fi
    return 0
}

pid_of() {
    local i
    for i in "${!NAMES[@]}"; do
        if [ "${NAMES[$i]}" = "$1" ]; then
            echo "${PIDS[$i]}"
            return 0
        fi
    done
    return 1
}

# start NAME CMD...: runs CMD in the background, stdout to .demo/NAME.out, stderr to
# .demo/NAME.log. Environment for it is passed with `env` in CMD.
start() {
    local name="$1"
    shift
    $SETSID "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" </dev/null &
    NAMES+=("$name")
    PIDS+=("$!")
}

# Shows the end of a component's output and log, for a failure message.
show_log() {
    local name="$1" f
    for f in "$WORK/$name.out" "$WORK/$name.log"; do
        if [ -s "$f" ]; then
            say "--- last lines of ${f#"$ROOT"/}:"
            tail -n 15 "$f" | sed 's/^/    /' >&2
        fi
    done
}

# wait_for NAME PATTERN FILE: waits until FILE has a line matching PATTERN, while NAME runs.
wait_for() {
    local name="$1" pattern="$2" file="$3" pid
    pid=$(pid_of "$name")
    local deadline=$((SECONDS + READY_TIMEOUT))
    while ! grep -q -- "$pattern" "$file" 2>/dev/null; do
        if ! alive "$pid"; then
            say "$name exited before it was ready"
            show_log "$name"
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "$name was not ready within ${READY_TIMEOUT}s"
            show_log "$name"
            return 1
        fi
        sleep 0.1
    done
    return 0
}

# The port from a "socialcare-<svc> ready port=N" line.
ready_port() {
    sed -n 's/^socialcare-.* ready port=\([0-9][0-9]*\).*/\1/p' "$WORK/$1.out" | head -n 1
}

# wait_http_ok NAME URL: waits until URL answers 200 (e.g. /readyz: partitions assigned).
wait_http_ok() {
    local name="$1" url="$2" pid code
    pid=$(pid_of "$name")
    local deadline=$((SECONDS + READY_TIMEOUT))
    while :; do
        code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" 2>/dev/null || true)
        [ "$code" = "200" ] && return 0
        if ! alive "$pid"; then
            say "$name exited while starting"
            show_log "$name"
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "$name did not become ready ($url answers ${code:-nothing}) within ${READY_TIMEOUT}s"
            show_log "$name"
            return 1
        fi
        sleep 0.2
    done
}

# stop_group NAME...: SIGTERM to each that runs, wait up to STOP_TIMEOUT, then SIGKILL.
stop_group() {
    local name pid status running=()
    for name in "$@"; do
        pid=$(pid_of "$name") || continue
        if alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null
            running+=("$name")
        fi
    done
    [ ${#running[@]} -gt 0 ] || return 0
    say "stopping ${running[*]}"
    local deadline=$((SECONDS + STOP_TIMEOUT))
    for name in "${running[@]}"; do
        pid=$(pid_of "$name")
        while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.1
        done
        if alive "$pid"; then
            say "$name did not stop within ${STOP_TIMEOUT}s: killing it"
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        status=$?
        if [ "$status" -ne 0 ] && [ "$status" -ne 143 ]; then
            say "$name exited with status $status (see ${WORK#"$ROOT"/}/$name.log)"
        fi
    done
}

# Stops everything this script started: input first, then the pipeline, then the
# infrastructure it needs to drain.
stop_all() {
    [ "$CLEANED" = 1 ] && return 0
    CLEANED=1
    # STACK_RSS_FILE=path: "<name> <VmHWM kB> <CPU seconds>" of each process before it
    # stops (make bench).
    if [ -n "${STACK_RSS_FILE:-}" ]; then
        local svc hwm cpu tck
        tck=$(getconf CLK_TCK)
        for svc in ingestor classifier escalation-router responder devbroker redis reply-sink; do
            hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' \
                "/proc/$(pid_of "$svc")/status" 2>/dev/null)
            cpu=$(awk -v t="$tck" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' \
                "/proc/$(pid_of "$svc")/stat" 2>/dev/null)
            echo "$svc ${hwm:-?} ${cpu:-?}"
        done >"$STACK_RSS_FILE"
        # and Redis's time per command, to see which service's calls cost what
        redis-cli -p "$REDIS_PORT" INFO commandstats >"$STACK_RSS_FILE.redis" 2>/dev/null || true
    fi
    stop_group ingestor
    stop_group classifier escalation-router responder
    stop_group reply-sink devbroker redis
    local f
    for f in "$WORK"/*.log; do
        [ -f "$f" ] || continue
        if grep -q -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$f"; then
            say "WARNING: sanitizer report in ${f#"$ROOT"/}"
        fi
    done
    rm -f "$WORK/stack.pid" "$WORK/env"
}

SUMMARY_SHOWN=0
on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    stop_all
    # Interrupted while the tap ran: it still wrote its partial summary.
    if [ "$MODE" = demo ] && [ "$SUMMARY_SHOWN" = 0 ] && [ -s "$WORK/summary.txt" ]; then
        cat "$WORK/summary.txt"
    fi
    exit "$rc"
}
trap on_exit EXIT
if [ "$MODE" = up ]; then
    trap 'echo >&2; exit 0' INT
else
    trap 'echo >&2; say "interrupted"; exit 130' INT
fi
trap 'exit 143' TERM

# ------------------------------------------------------------------ infrastructure

# A port nobody listens on: a refused connect means free (bash's /dev/tcp; no python needed).
# Below the usual ephemeral range so outgoing connections do not take it meanwhile.
pick_port() {
    local p
    while :; do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
}

REDIS_PORT=""
for _ in 1 2 3 4 5 6 7 8; do
    port=$(pick_port)
    start redis redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$WORK" --daemonize no --protected-mode yes --logfile ''
    if READY_TIMEOUT=10 wait_for redis "Ready to accept connections" "$WORK/redis.out" \
        2>/dev/null; then
        REDIS_PORT=$port
        break
    fi
    # Lost a race for the port (or failed otherwise): try another one.
    pid=$(pid_of redis)
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    cp "$WORK/redis.out" "$WORK/redis.failed.out" 2>/dev/null
    NAMES=("${NAMES[@]:0:${#NAMES[@]}-1}")
    PIDS=("${PIDS[@]:0:${#PIDS[@]}-1}")
done
if [ -z "$REDIS_PORT" ]; then
    say "redis-server did not start; last attempt's output:"
    tail -n 15 "$WORK/redis.failed.out" | sed 's/^/    /' >&2
    exit 1
fi
say "redis-server on 127.0.0.1:$REDIS_PORT"

start devbroker "$BIN/socialcare-devbroker" --partitions "$PARTITIONS" \
    --bootstrap-file "$WORK/bootstrap"
wait_for devbroker "ready bootstrap=" "$WORK/devbroker.out" || exit 1
BOOTSTRAP=""
deadline=$((SECONDS + READY_TIMEOUT))
while [ -z "$BOOTSTRAP" ] && [ "$SECONDS" -lt "$deadline" ]; do
    BOOTSTRAP=$(head -n 1 "$WORK/bootstrap" 2>/dev/null || true)
    [ -n "$BOOTSTRAP" ] || sleep 0.1
done
[ -n "$BOOTSTRAP" ] || die "the dev broker wrote no bootstrap file"
say "kafka dev broker at $BOOTSTRAP ($PARTITIONS partitions per topic)"

start reply-sink "$BIN/socialcare-reply-sink" --port 0
wait_for reply-sink "ready port=" "$WORK/reply-sink.out" || exit 1
SINK_PORT=$(ready_port reply-sink)
say "reply sink on 127.0.0.1:$SINK_PORT"

# ------------------------------------------------------------------ services

# The dev broker needs short group timeouts and short fetch waits (kafka-dev-broker.md).
COMMON_ENV=(
    KAFKA_BROKERS="$BOOTSTRAP"
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    HTTP_PORT=0
    HTTP_BIND=127.0.0.1
    LOG_LEVEL="${LOG_LEVEL:-info}"
    KAFKA_SESSION_TIMEOUT_MS=6000
    KAFKA_HEARTBEAT_INTERVAL_MS=500
    KAFKA_FETCH_WAIT_MAX_MS="${STACK_FETCH_WAIT_MS:-2}"
    KAFKA_LINGER_MS="${STACK_LINGER_MS:-1}"
    KAFKA_COMPRESSION_TYPE="${STACK_COMPRESSION:-none}"
    KAFKA_STATISTICS_INTERVAL_MS=1000
)

start classifier env "${COMMON_ENV[@]}" "$BIN/socialcare-classifier"
# Local-only API tokens for the case API and the agent API (`make up` prints them).
API_TOKEN="${STACK_API_TOKEN:-local-dev-token}"
start escalation-router env "${COMMON_ENV[@]}" ROUTER_API_TOKEN="$API_TOKEN" \
    "$BIN/socialcare-escalation-router"
start responder env "${COMMON_ENV[@]}" REPLY_ENDPOINT="http://127.0.0.1:$SINK_PORT/v1/replies" \
    RESPONDER_API_TOKEN="$API_TOKEN" "$BIN/socialcare-responder"
declare -A PORT
for svc in classifier escalation-router responder; do
    wait_for "$svc" "ready port=" "$WORK/$svc.out" || exit 1
    PORT[$svc]=$(ready_port "$svc")
    say "$svc up on port ${PORT[$svc]}"
done
# Consumers that have their partitions before the first post make the latencies honest.
say "waiting for the consumer groups to assign partitions"
for svc in classifier escalation-router responder; do
    wait_http_ok "$svc" "http://127.0.0.1:${PORT[$svc]}/readyz" || exit 1
done

EXPECT=0
INGEST_ENV=()
if [ "$MODE" = demo ] || [ "$DEMO_COUNT" != 0 ]; then
    say "generating $DEMO_COUNT lines of demo stream (seed $DEMO_SEED), replayed at" \
        "$([ "$DEMO_RATE" = 0 ] && echo "full speed" || echo "$DEMO_RATE posts/s")"
    if ! "$BIN/socialcare-demo-gen" --count "$DEMO_COUNT" --seed "$DEMO_SEED" \
        --manifest "$WORK/manifest.json" >"$WORK/stream.jsonl" 2>"$WORK/demo-gen.log"; then
        cat "$WORK/demo-gen.log" >&2
        die "socialcare-demo-gen failed"
    fi
    sed 's/^demo-gen: /stack: stream: /' "$WORK/demo-gen.log" >&2
    EXPECT=$(sed -n 's/.*"unique_valid":[[:space:]]*\([0-9][0-9]*\).*/\1/p' \
        "$WORK/manifest.json")
    [ -n "$EXPECT" ] || die "no unique_valid count in $WORK/manifest.json"
    INGEST_ENV=(INGEST_FILE="$WORK/stream.jsonl" INGEST_RATE="$DEMO_RATE")
fi
start ingestor env "${COMMON_ENV[@]}" ${INGEST_ENV[@]+"${INGEST_ENV[@]}"} \
    "$BIN/socialcare-ingestor"
wait_for ingestor "ready port=" "$WORK/ingestor.out" || exit 1
PORT[ingestor]=$(ready_port ingestor)
say "ingestor up on port ${PORT[ingestor]}"

cat >"$WORK/env" <<EOF
# source this file to talk to the running stack
KAFKA_BROKERS=$BOOTSTRAP
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
INGESTOR_URL=http://127.0.0.1:${PORT[ingestor]}
CLASSIFIER_URL=http://127.0.0.1:${PORT[classifier]}
ROUTER_URL=http://127.0.0.1:${PORT[escalation-router]}
RESPONDER_URL=http://127.0.0.1:${PORT[responder]}
REPLY_SINK_URL=http://127.0.0.1:$SINK_PORT
EOF

# ------------------------------------------------------------------ demo / up

if [ "$MODE" = demo ]; then
    say "following the pipeline until all $EXPECT posts are through (timeout ${DEMO_TIMEOUT}s)"
    "$BIN/socialcare-tap" --brokers "$BOOTSTRAP" --expect "$EXPECT" --timeout "$DEMO_TIMEOUT" \
        --defer-ms "${STACK_TAP_DEFER_MS:-0}" \
        --ingestor-metrics "http://127.0.0.1:${PORT[ingestor]}/metrics" \
        >"$WORK/summary.txt"
    TAP_RC=$?
    stop_all
    [ "$TAP_RC" -eq 0 ] || say "the demo did not complete (tap exit status $TAP_RC); logs in .demo/"
    SUMMARY_SHOWN=1
    cat "$WORK/summary.txt"
    exit "$TAP_RC"
fi

cat >&2 <<EOF
stack: up. Endpoints (also in .demo/env):
  ingestor           http://127.0.0.1:${PORT[ingestor]}   (POST /v1/posts)
  classifier         http://127.0.0.1:${PORT[classifier]}
  escalation-router  http://127.0.0.1:${PORT[escalation-router]}   (case API: GET /v1/cases)
  responder          http://127.0.0.1:${PORT[responder]}   (agent API: POST /v1/replies, GET /v1/held)
  API token          Authorization: Bearer $API_TOKEN
  reply sink         http://127.0.0.1:$SINK_PORT   (GET /stats)
  kafka bootstrap    $BOOTSTRAP   (try: $BIN/socialcare-tap --brokers $BOOTSTRAP)
  redis              redis://127.0.0.1:$REDIS_PORT/0
  every service:     /healthz /readyz /metrics; logs in .demo/<name>.log
stack: press Ctrl-C to stop
EOF
while :; do
    for i in "${!NAMES[@]}"; do
        if ! alive "${PIDS[$i]}"; then
            say "${NAMES[$i]} stopped unexpectedly"
            show_log "${NAMES[$i]}"
            exit 1
        fi
    done
    sleep 1
done
