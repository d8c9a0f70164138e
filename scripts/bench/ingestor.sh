#!/bin/bash
# Ingestor benchmarks (not tests): `replay` replays a generated JSONL stream into the dev
# broker and reports posts/s; `webhook` drives POST /webhooks/generic with wrk (a Lua
# script signs every request) and reports requests/s and latency percentiles.
# Usage: scripts/bench/ingestor.sh replay|webhook BINDIR [COUNT|DURATION]
# Everything (redis-server, dev broker, ingestor, load tool) runs on this machine, on free
# loopback ports, in a temp dir removed at the end (BENCH_KEEP=1 keeps it).
set -euo pipefail
mode=${1:?replay or webhook}
BIN=$(cd "${2:?bin dir}" && pwd)
ARG=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/sc-bench-ingestor.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ "${BENCH_KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_line() { # file needle seconds
    local end=$((SECONDS + $3))
    until grep -q "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $end ] || { echo "timeout waiting for '$2' in $1" >&2; return 1; }
        sleep 0.05
    done
}

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
    >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
until redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG; do sleep 0.05; done
"$BIN/socialcare-devbroker" --partitions "${BENCH_PARTITIONS:-4}" --bootstrap-file "$WORK/bootstrap" \
    >"$WORK/broker.out" 2>"$WORK/broker.err" &
PIDS+=($!)
wait_line "$WORK/broker.out" "ready" 20
BOOT=$(head -n1 "$WORK/bootstrap")
ENV=(KAFKA_BROKERS="$BOOT" REDIS_URL="redis://127.0.0.1:$RPORT/0" HTTP_PORT=0
     HTTP_BIND=127.0.0.1 LOG_LEVEL=${BENCH_LOG_LEVEL:-info} KAFKA_SESSION_TIMEOUT_MS=6000 ${BENCH_ENV:-}
     KAFKA_HEARTBEAT_INTERVAL_MS=500 KAFKA_FETCH_WAIT_MAX_MS=10)

metric() { # port series-prefix
    curl -s "http://127.0.0.1:$1/metrics" | awk -v s="$2" 'index($0, s) == 1 {t += $NF} END {print t + 0}'
}

case "$mode" in
replay)
    COUNT=${ARG:-200000}
    "$BIN/socialcare-demo-gen" --count "$COUNT" --bad 0 --duplicates 0 --now 1795333409 \
        >"$WORK/stream.jsonl" 2>/dev/null
    lines=$(wc -l <"$WORK/stream.jsonl")
    start=$(date +%s.%N)
    env "${ENV[@]}" INGEST_FILE="$WORK/stream.jsonl" "$BIN/socialcare-ingestor" \
        >"$WORK/ing.out" 2>"$WORK/ing.err" &
    PIDS+=($!)
    wait_line "$WORK/ing.out" "ready port=" 20
    port=$(sed -n 's/.*ready port=\([0-9]*\).*/\1/p' "$WORK/ing.out")
    until [ "$(metric "$port" 'socialcare_ingestor_posts_total{source="replay"')" -ge "$lines" ]; do
        sleep 0.02
    done
    end=$(date +%s.%N)
    accepted=$(metric "$port" 'socialcare_ingestor_posts_total{source="replay",outcome="accepted"')
    ipid=${PIDS[${#PIDS[@]}-1]}
    bpid=${PIDS[1]}
    cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
    python3 -c "l=$lines;a=$accepted;t=$end-$start;ci=$(cpu "$ipid");cb=$(cpu "$bpid");print(f'replay: {l} lines, {a} accepted posts in {t:.2f} s (process start to last ack) = {a/t:,.0f} posts/s; CPU ingestor {ci:.2f} s, dev broker {cb:.2f} s')"
    ;;
webhook)
    DUR=${ARG:-15s}
    env "${ENV[@]}" WEBHOOK_SECRET=bench-secret WEBHOOK_TOLERANCE_S=3600 \
        "$BIN/socialcare-ingestor" >"$WORK/ing.out" 2>"$WORK/ing.err" &
    PIDS+=($!)
    wait_line "$WORK/ing.out" "ready port=" 20
    port=$(sed -n 's/.*ready port=\([0-9]*\).*/\1/p' "$WORK/ing.out")
    CONNS=${BENCH_CONNECTIONS:-64}
    THREADS=${BENCH_THREADS:-1}
    # BENCH_POOL=N: each wrk thread signs N deliveries before the run (see the Lua script).
    wrk -t "$THREADS" -c "$CONNS" -d "$DUR" --latency -s "$here/ingestor-webhook.lua" \
        "http://127.0.0.1:$port/webhooks/generic" -- "${BENCH_POOL:-0}" | tee "$WORK/wrk.txt"
    echo "accepted posts: $(metric "$port" 'socialcare_ingestor_posts_total{source="generic",outcome="accepted"'), duplicates: $(metric "$port" 'socialcare_ingestor_posts_total{source="generic",outcome="duplicate"')"
    echo "webhook outcomes: $(curl -s "http://127.0.0.1:$port/metrics" | grep '^socialcare_ingestor_webhooks_total' | tr '\n' ' ')"
    ;;
*)
    echo "unknown mode $mode" >&2
    exit 2
    ;;
esac
