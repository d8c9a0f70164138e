/* Group commit for the HTTP sources (POST /v1/posts and the webhooks), whose handlers run
 * concurrently, one thread per connection. A handler validates and serialises its posts,
 * then submits them and blocks; one committer thread takes everything queued, marks the
 * ids with one pipelined Redis SET NX EX round trip, produces the new posts with its own
 * producer (nobody else polls it, so its delivery reports are never taken by another
 * thread), awaits the acknowledgements, confirms the group's marks with one batch record
 * (ingest.h) and wakes every handler of the group with the outcome. If the produce fails
 * (e.g. the local queue is full: Kafka cannot take more), the group's new seen marks are
 * deleted again and every handler gets an error, so the platform's retry is not mistaken
 * for a duplicate. */
#ifndef INGESTOR_COMMIT_H
#define INGESTOR_COMMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "kafka.h"
#include "redis.h"

/* One post of a submission; the strings are the submitter's (borrowed until return). */
struct commit_post {
    const char *id; /* post id ("x:123") */
    const char *key;
    size_t key_len; /* customer key */
    const char *value;
    size_t value_len; /* the serialised post */
    bool is_new;      /* out: false for a duplicate */
};

struct committer;

/* @brief Starts the committer thread. redis and producer become the committer's (freed
 * by committer_free). */
struct committer *committer_new(struct sc_redis *redis, struct sc_producer *producer,
                                const char *topic, long long dedup_ttl_s);

/* @brief Stops the thread (after the group in progress) and frees; NULL is fine. */
void committer_free(struct committer *c);

/* @brief Publishes posts in the next group and waits for its outcome.
 * @returns 0 (each is_new set), or an error (nothing of this call was published). */
int committer_submit(struct committer *c, struct commit_post *posts, size_t n);

#endif
