#!/usr/bin/env bash
# The whole benchmark harness (`make bench`, issue 8): in one run on this machine
#  1. the raw broker baseline: socialcare-broker-bench (a plain librdkafka producer ->
#     consumer with the services' producer settings) on a fresh dev broker;
#  2. each service alone, through the areas' own benchmarks (make bench-ingestor-replay,
#     bench-classifier, bench-router, bench-responder; their release build dirs);
#  3. the whole pipeline end to end (scripts/stack.sh demo): a backlog at full speed for
#     throughput, then a fixed offered load for p50/p99 end-to-end latency;
#  4. peak RSS (VmHWM) of each service during the pipeline runs (STACK_RSS_FILE).
# Every throughput is also given as a ratio to the broker baseline of the same run. The
# table is printed and written to docs/benchmarks/pipeline.md (BENCH_OUT overrides).
#   scripts/bench/pipeline.sh [BINDIR]   (default build/bin, from `make build`)
# Environment: BENCH_BROKER_COUNT (default 1000000), BENCH_INGESTOR_COUNT (400000),
# BENCH_CLASSIFIER_COUNT (20000), BENCH_ROUTER_COUNT (100000), BENCH_RESPONDER_COUNT (30000),
# BENCH_PIPELINE_COUNT (20000), BENCH_LATENCY_RATE (2000), BENCH_LATENCY_COUNT (20000),
# CLASSIFIER_DATA (../shared/data; the classifier step is skipped without its CSV),
# BENCH_ONLY (space-separated subset of: broker ingestor classifier router responder
# pipeline). Raw outputs are kept in .demo/bench/ (one log per step).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
BIN_ARG=${1:-build/bin}
[ -d "$BIN_ARG" ] || { echo "bench: no such directory $BIN_ARG (run make build)" >&2; exit 2; }
BIN=$(cd "$BIN_ARG" && pwd)
OUT=${BENCH_OUT:-docs/benchmarks/pipeline.md}
LOGS="$ROOT/.demo/bench"
MAKE=${MAKE:-make}
CLASSIFIER_DATA=${CLASSIFIER_DATA:-../shared/data}
ONLY=" ${BENCH_ONLY:-broker ingestor classifier router responder pipeline} "
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log "$LOGS"/*.rss

say() { printf 'bench: %s\n' "$*" >&2; }
want() { [[ "$ONLY" == *" $1 "* ]]; }
num() { # 12345 -> 12,345 ; empty -> —
    if [ -n "$1" ]; then
        printf '%s' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'
    else
        printf '—'
    fi
}
T0=$SECONDS
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ 1. broker baseline

BROKER_RATE=""
BROKER_NOTE="not run"
if want broker; then
    say "1/4 raw broker baseline (${BENCH_BROKER_COUNT:-1000000} messages)"
    W=$(mktemp -d /tmp/sc-bench-broker.XXXXXX)
    "$BIN/socialcare-devbroker" --partitions 8 --topics bench.raw --bootstrap-file "$W/b" \
        --log-level warning >"$W/out" 2>"$W/err" &
    BPID=$!
    for _ in $(seq 300); do [ -s "$W/b" ] && break; sleep 0.1; done
    if [ -s "$W/b" ]; then
        "$BIN/socialcare-broker-bench" --brokers "$(head -n 1 "$W/b")" --topic bench.raw \
            --count "${BENCH_BROKER_COUNT:-1000000}" >"$LOGS/broker.log" 2>&1
        BROKER_RATE=$(sed -n 's/.*"hop_msgs_per_s":\([0-9]*\).*/\1/p' "$LOGS/broker.log")
        BROKER_PRODUCE=$(sed -n 's/.*"produce_msgs_per_s":\([0-9]*\).*/\1/p' "$LOGS/broker.log")
        BROKER_CONSUME=$(sed -n 's/.*"consume_msgs_per_s":\([0-9]*\).*/\1/p' "$LOGS/broker.log")
        BROKER_NOTE="$(num "${BENCH_BROKER_COUNT:-1000000}") × 300 B, 8 partitions, producer and consumer concurrently (producer side $(num "${BROKER_PRODUCE:-}")/s, consumer side $(num "${BROKER_CONSUME:-}")/s)"
    else
        echo "the dev broker did not start" >"$LOGS/broker.log"
    fi
    kill "$BPID" 2>/dev/null
    wait "$BPID" 2>/dev/null
    rm -rf "$W"
    [ -n "$BROKER_RATE" ] || BROKER_NOTE="failed (.demo/bench/broker.log)"
fi

# ------------------------------------------------------------------ 2. each service alone

# run_area NAME LOGFILE CMD...: runs an area benchmark, its output into LOGFILE.
run_area() {
    local name="$1" log="$2"
    shift 2
    say "2/4 $name alone: $*"
    "$@" >"$log" 2>&1
    local rc=$?
    [ "$rc" -eq 0 ] || say "$name benchmark exited with status $rc (see ${log#"$ROOT"/})"
    return 0
}

ING_RATE="" CLS_RATE="" RTR_RATE="" RSP_RATE=""
ING_NOTE="not run" CLS_NOTE="not run" RTR_NOTE="not run" RSP_NOTE="not run"
if want ingestor; then
    n=${BENCH_INGESTOR_COUNT:-400000}
    run_area ingestor "$LOGS/ingestor.log" $MAKE --no-print-directory bench-ingestor-replay \
        INGEST_BENCH_COUNT="$n"
    ING_RATE=$(sed -n 's/.* = \([0-9,]*\) posts\/s.*/\1/p' "$LOGS/ingestor.log" | tr -d , | tail -n 1)
    ING_NOTE="replay of $(num "$n") posts into posts.inbound (\`make bench-ingestor-replay\`)"
    [ -n "$ING_RATE" ] || ING_NOTE="failed (.demo/bench/ingestor.log)"
fi
if want classifier; then
    if [ -f "$CLASSIFIER_DATA/airline_train.csv" ]; then
        n=${BENCH_CLASSIFIER_COUNT:-20000}
        CLASSIFIER_BENCH_COUNT=$n run_area classifier "$LOGS/classifier.log" \
            $MAKE --no-print-directory bench-classifier CLASSIFIER_DATA="$CLASSIFIER_DATA"
        CLS_RATE=$(sed -n 's/^classifier through the dev broker:.* \([0-9]*\) posts\/s.*/\1/p' \
            "$LOGS/classifier.log" | tail -n 1)
        CLS_NOTE="backlog of $(num "$n") posts (airline texts), posts.inbound → posts.classified (\`make bench-classifier\`)"
        [ -n "$CLS_RATE" ] || CLS_NOTE="failed (.demo/bench/classifier.log)"
    else
        CLS_NOTE="skipped: no $CLASSIFIER_DATA/airline_train.csv (set CLASSIFIER_DATA)"
    fi
fi
if want router; then
    n=${BENCH_ROUTER_COUNT:-100000}
    BENCH_COUNT=$n run_area router "$LOGS/router.log" $MAKE --no-print-directory bench-router
    RTR_RATE=$(sed -n 's/^== router: .*: \([0-9]*\) posts\/s.*/\1/p' "$LOGS/router.log")
    RTR_NOTE="backlog of $(num "$n") classified posts, dev broker + redis-server (\`make bench-router\`)"
    [ -n "$RTR_RATE" ] || RTR_NOTE="failed (.demo/bench/router.log)"
fi
if want responder; then
    n=${BENCH_RESPONDER_COUNT:-30000}
    BENCH_COUNT=$n BENCH_DECISIONS=${BENCH_DECISIONS:-200000} run_area responder \
        "$LOGS/responder.log" $MAKE --no-print-directory bench-responder
    RSP_RATE=$(sed -n 's/^{"bench":"service".*"replies_per_s":\([0-9]*\).*/\1/p' \
        "$LOGS/responder.log")
    RSP_NOTE="backlog of $(num "$n") replies → local platform peer, rate limits off (\`make bench-responder\`)"
    [ -n "$RSP_RATE" ] || RSP_NOTE="failed (.demo/bench/responder.log)"
fi

# ------------------------------------------------------------------ 3./4. whole pipeline

# run_stack NAME COUNT RATE: one `stack.sh demo`; its tap summary in .demo/bench/NAME.log and
# the services' VmHWM in .demo/bench/NAME.rss.
run_stack() {
    local name="$1" count="$2" rate="$3"
    say "3/4 whole pipeline: DEMO_COUNT=$count DEMO_RATE=$rate scripts/stack.sh demo"
    STACK_RSS_FILE="$LOGS/$name.rss" SC_TAP_LATENCY_FILE="$LOGS/$name.latency" STACK_TAP_DEFER_MS=500 \
        DEMO_COUNT="$count" DEMO_RATE="$rate" LOG_LEVEL=warning \
        ./scripts/stack.sh demo "$BIN" >"$LOGS/$name.log" 2>"$LOGS/$name.err"
    local rc=$?
    [ "$rc" -eq 0 ] || say "stack.sh demo exited with status $rc (see .demo/bench/$name.err)"
}
lat_field() { # log field(1=p50 2=p99 3=rate)
    sed -n 's/^latency (end-to-end): p50 \([0-9]*\) ms, p99 \([0-9]*\) ms; \([0-9]*\) posts\/s.*/\1 \2 \3/p' \
        "$1" 2>/dev/null | tail -n 1 | cut -d' ' -f"$2"
}
PIPE_RATE="" PIPE_P50="" PIPE_P99="" LAT_P50="" LAT_P99="" LAT_RATE=""
PIPE_COUNT=${BENCH_PIPELINE_COUNT:-20000}
LAT_COUNT=${BENCH_LATENCY_COUNT:-20000}
LAT_OFFERED=${BENCH_LATENCY_RATE:-2000}
if want pipeline; then
    run_stack pipeline-throughput "$PIPE_COUNT" 0
    PIPE_P50=$(lat_field "$LOGS/pipeline-throughput.log" 1)
    PIPE_P99=$(lat_field "$LOGS/pipeline-throughput.log" 2)
    PIPE_RATE=$(lat_field "$LOGS/pipeline-throughput.log" 3)
    run_stack pipeline-latency "$LAT_COUNT" "$LAT_OFFERED"
    LAT_P50=$(lat_field "$LOGS/pipeline-latency.log" 1)
    LAT_P99=$(lat_field "$LOGS/pipeline-latency.log" 2)
    LAT_RATE=$(lat_field "$LOGS/pipeline-latency.log" 3)
fi

# hops FILE: markdown rows of p50/p90/p99/max per hop from a tap latency file (columns:
# received, latency, replied, then the broker timestamps of posts.inbound, posts.classified,
# the case event, the first replies.outbound and the last delivery).
hops() {
    [ -s "$1" ] || return 0
    local spec name to from only
    for spec in "ingestor (receive → posts.inbound):4:1:0" \
        "classifier (posts.inbound → posts.classified):5:4:0" \
        "escalation-router (posts.classified → case event):6:5:0" \
        "responder (replies.outbound → delivery report), replied posts:8:7:1" \
        "end to end (receive → last outcome):0:0:0"; do
        IFS=: read -r name to from only <<<"$spec"
        awk -v to="$to" -v from="$from" -v only="$only" '
            only == 1 && !$3 { next }
            to == 0 { print $2; next }
            $to != 0 && $from != 0 { print $to - $from }' "$1" | sort -n |
            awk -v name="$name" '
                { a[++k] = $1 }
                END {
                    if (!k) exit
                    printf "| %s | %d | %d | %d | %d | %d |\n", name, k,
                        a[int((k * 50 + 99) / 100)], a[int((k * 90 + 99) / 100)],
                        a[int((k * 99 + 99) / 100)], a[k]
                }'
    done
}

# cpu_rows: per process, CPU seconds in the backlog run and microseconds per unique post.
cpu_rows() {
    local f="$LOGS/pipeline-throughput.rss" posts
    [ -s "$f" ] || return 0
    posts=$(sed -n 's/^posts in:[[:space:]]*\([0-9]*\).*/\1/p' "$LOGS/pipeline-throughput.log" |
        tail -n 1)
    [ -n "$posts" ] && [ "$posts" -gt 0 ] || return 0
    awk -v posts="$posts" '$3 ~ /^[0-9.]+$/ {
            printf "| %s | %.2f | %.1f |\n", $1, $3, $3 * 1e6 / posts; total += $3 }
        END { printf "| **all processes** | %.2f | **%.1f** |\n", total, total * 1e6 / posts }' "$f"
}

# ------------------------------------------------------------------ the table

ratio() { # rate -> "0.123" against the broker baseline
    if [ -n "$1" ] && [ -n "$BROKER_RATE" ] && [ "$BROKER_RATE" -gt 0 ]; then
        awk -v a="$1" -v b="$BROKER_RATE" 'BEGIN { printf "%.3f", a / b }'
    else
        echo "—"
    fi
}
rss_of() { # service -> "NN.N" MiB, the larger of the two pipeline runs
    cat "$LOGS"/pipeline-*.rss 2>/dev/null |
        awk -v s="$1" '$1 == s && $2 ~ /^[0-9]+$/ { if ($2 > m) m = $2 }
                       END { if (m) printf "%.1f", m / 1024; else printf "—" }'
}

DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
MEM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - T0))
REV=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
DIRTY=$(git status --porcelain 2>/dev/null | grep -q . && echo " + uncommitted changes" || true)

TABLE=$(
    cat <<EOF
| stage | throughput | ratio to broker | latency | peak RSS | conditions |
| --- | ---: | ---: | --- | ---: | --- |
| raw broker hop (librdkafka producer → consumer) | $(num "$BROKER_RATE") msgs/s | 1.000 | | | $BROKER_NOTE |
| ingestor alone | $(num "$ING_RATE") posts/s | $(ratio "$ING_RATE") | | | $ING_NOTE |
| classifier alone | $(num "$CLS_RATE") posts/s | $(ratio "$CLS_RATE") | | | $CLS_NOTE |
| escalation-router alone | $(num "$RTR_RATE") posts/s | $(ratio "$RTR_RATE") | | | $RTR_NOTE |
| responder alone | $(num "$RSP_RATE") replies/s | $(ratio "$RSP_RATE") | | | $RSP_NOTE |
| whole pipeline, backlog at full speed | **$(num "$PIPE_RATE") posts/s** | $(ratio "$PIPE_RATE") | p50 $(num "$PIPE_P50") ms, p99 $(num "$PIPE_P99") ms (queueing behind the backlog) | | $(num "$PIPE_COUNT")-line stream, DEMO_RATE=0; stack defaults: no compression, linger 1 ms, fetch wait 2 ms |
| whole pipeline, fixed offered load | $(num "$LAT_RATE") posts/s | $(ratio "$LAT_RATE") | **p50 $(num "$LAT_P50") ms, p99 $(num "$LAT_P99") ms** | | $(num "$LAT_COUNT")-line stream offered at $(num "$LAT_OFFERED") posts/s |
| ingestor in the pipeline | | | | $(rss_of ingestor) MiB | VmHWM, larger of the two pipeline runs |
| classifier in the pipeline | | | | $(rss_of classifier) MiB | |
| escalation-router in the pipeline | | | | $(rss_of escalation-router) MiB | |
| responder in the pipeline | | | | $(rss_of responder) MiB | |
EOF
)

mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<EOF
# Benchmark harness: broker baseline, each service, whole pipeline

Written by \`make bench\` (scripts/bench/pipeline.sh); re-run it to refresh this page. Speed is
measured here, never asserted in tests.

- date: $DATE, revision $REV$DIRTY
- command: \`make bench\` (release builds: \`build/\` from \`make build\` for the broker
  baseline and the pipeline; each area's own release dir for its service benchmark)
- machine: $(nproc) cores ($CPU), $MEM memory, kernel $(uname -r), $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
- load average before / after: $LOAD_BEFORE / $LOAD_AFTER; the whole run took ${ELAPSED} s.
  Everything (dev broker, redis-server, services, load generators) shares the same cores, and
  other work on the machine competes with it: figures are lower bounds.

$TABLE

CPU by process in the backlog run (user + system time from /proc, whole run including
start-up; the two cores give 2,000,000 µs of CPU per second, so 25,000 posts/s needs all
processes together under 80 µs per post):

| process | CPU s | µs per post |
| --- | ---: | ---: |
$(cpu_rows)

Latency by hop at the fixed offered load (ms, from the Kafka timestamps the producers set):

| hop | posts | p50 | p90 | p99 | max |
| --- | ---: | ---: | ---: | ---: | ---: |
$(hops "$LOGS/pipeline-latency.latency")

How each figure is taken:

- **Raw broker hop**: \`socialcare-broker-bench\` (tools/bench/broker-bench.c), a plain
  librdkafka producer (enable.idempotence, acks=all, lz4, linger.ms=5: the services'
  settings) and a plain consumer (fetch.wait.max.ms=10) running concurrently on a fresh dev
  broker; messages divided by the time from the first produce to the last message consumed.
- **Each service alone**: the areas' own benchmarks, each on its own dev broker (and
  redis-server), timed from the service's first processed message to its last; details on the
  area pages (ingestor.md, classifier.md, router.md, responder.md).
- **Whole pipeline**: \`scripts/stack.sh demo\` (dev broker, redis-server, the four services,
  reply sink) with a generated stream replayed by the ingestor; \`socialcare-tap\` gives unique
  posts divided by the time from the first receive to the last outcome, and per-post latency
  from the ingestor's \`received_at\` to the Kafka timestamp of the post's last outcome.
  The tap reads the topics only once their ends stood still for 500 ms
  (\`STACK_TAP_DEFER_MS\`): following them live, it used about 0.6 CPU-s of a 20,000-post
  run on the same two cores; its figures come from the broker's timestamps either way.
- **Peak RSS**: VmHWM from /proc/<pid>/status of each service just before the stack stops
  it (\`STACK_RSS_FILE\` in scripts/stack.sh).
- **Ratio**: the stage's throughput divided by the raw broker hop of the same run, so runs on
  different machines compare.

Raw outputs of the last run are in \`.demo/bench/\` (not committed).
EOF

echo
echo "== make bench, $DATE, $(nproc) cores, $MEM, kernel $(uname -r), load $LOAD_BEFORE -> $LOAD_AFTER, ${ELAPSED} s"
echo "$TABLE"
echo "(written to $OUT)"
