/* The replay source (main thread): JSONL or CSV lines from a file or stdin, paced by
 * INGEST_RATE, published in pipelined batches. A batch is parsed and validated, its ids
 * marked with one pipelined Redis SET NX EX round trip, its new posts produced; while its
 * acknowledgements are pending the next batches are read and sent (up to a window of
 * batches in flight). A batch whose delivery failed is produced again from its kept bytes
 * (the seen marks stay: the posts are ours to deliver) until it is acknowledged. Posts
 * are counted as accepted / duplicate once their batch is acknowledged; invalid lines are
 * dead-lettered at once. The JSONL fast path does not re-serialise: "v" and
 * "received_at", when absent, are spliced into the original line's bytes. */
#ifndef INGESTOR_REPLAY_H
#define INGESTOR_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "csv.h"
#include "metrics.h"
#include "service.h"

struct ingest_replay;

struct ingest_replay_conf {
    FILE *in;               /* borrowed */
    struct ingest_csv *csv; /* NULL = JSONL */
    double rate;            /* posts per second, 0 = unpaced */
    long long dedup_ttl_s;
    struct sc_service *svc; /* producer, Redis connection of the main thread, topics */
    struct sc_metric *m_posts;
};

struct ingest_replay *ingest_replay_new(const struct ingest_replay_conf *conf);
void ingest_replay_free(struct ingest_replay *replay);

/* @brief Reaps acknowledged batches, resends failed ones, reads and sends the next batch
 * when the window allows. @returns 1 when it did work, 0 when idle or finished. */
int ingest_replay_step(struct ingest_replay *replay);

/* @brief Posts read but not yet acknowledged (e.g. at stop). */
size_t ingest_replay_unpublished(const struct ingest_replay *replay);

#endif
