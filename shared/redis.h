/* Redis adapter over hiredis (synchronous context, one per thread): connect and command
 * timeouts, reconnect with exponential backoff, pipelined batches, and Lua scripts loaded
 * once and run by SHA (NOSCRIPT, e.g. after a Redis restart, reloads and retries). */
#ifndef SC_REDIS_H
#define SC_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "error.h"

struct sc_redis;

/* A Lua script: its source and SHA1; register with sc_redis_script_register. */
struct sc_redis_script {
    const char *source;
    char sha[41];
};

/* @brief Parses url (redis://[:password@]host:port[/db] or unix:///path) and creates a
 * handle; connects lazily. timeout_ms bounds connect and every command.
 * @returns a new handle, or NULL with errstr for a malformed URL (never logs the
 * password). */
struct sc_redis *sc_redis_new(const char *url, int timeout_ms, char *errstr,
                              size_t errstr_size);
void sc_redis_free(struct sc_redis *redis);

/* @brief Ensures a connection (AUTH, SELECT, script loads done). During backoff after a
 *        failure it returns SC_EAGAIN at once without trying.
 * @returns 0, SC_EAGAIN or SC_EIO. */
int sc_redis_connect(struct sc_redis *redis) SC_WUR;

/* @brief True while the last operation succeeded (thread-safe: readiness probes). */
bool sc_redis_healthy(const struct sc_redis *redis);

/* @brief Registers a script: computes its SHA now and loads it on every (re)connect.
 *        script must outlive the handle. */
void sc_redis_script_register(struct sc_redis *redis, struct sc_redis_script *script);

/* @brief Runs one command (argv form, binary safe). A connection error drops the
 * connection (next call reconnects).
 * @returns a new reply (free with freeReplyObject; may be an error reply), or NULL on a
 *          connection failure / backoff. */
redisReply *sc_redis_command(struct sc_redis *redis, int argc, const char **argv,
                             const size_t *argv_len);
/* printf-style convenience (hiredis format rules). */
redisReply *sc_redis_commandf(struct sc_redis *redis, const char *fmt, ...);

/* @brief Runs a registered script by EVALSHA, loading it on NOSCRIPT and retrying once.
 */
redisReply *sc_redis_eval(struct sc_redis *redis, struct sc_redis_script *script,
                          int n_keys, int argc, const char **argv,
                          const size_t *argv_len);

/* A pipelined batch: append commands, then run them in one round trip. */
struct sc_redis_batch;

struct sc_redis_batch *sc_redis_batch_new(void);
void sc_redis_batch_free(struct sc_redis_batch *batch);
/* @brief Empties the batch (frees replies) for reuse without reallocating. */
void sc_redis_batch_reset(struct sc_redis_batch *batch);
/* @brief Appends a command (arguments copied into the batch's arena). */
void sc_redis_batch_add(struct sc_redis_batch *batch, int argc, const char **argv,
                        const size_t *argv_len);
/* @brief Appends EVALSHA of a registered script with n_keys keys then args in argv. */
void sc_redis_batch_add_eval(struct sc_redis_batch *batch, struct sc_redis_script *script,
                             int n_keys, int argc, const char **argv,
                             const size_t *argv_len);
/* @brief Sends every command and reads every reply; NOSCRIPT replies are retried after
 *        loading the script. On a connection failure no reply is kept and the whole batch
 *        may be run again (commands must be idempotent).
 * @returns 0 (replies available, some may be error replies) or SC_EIO / SC_EAGAIN. */
int sc_redis_batch_run(struct sc_redis *redis, struct sc_redis_batch *batch) SC_WUR;
size_t sc_redis_batch_count(const struct sc_redis_batch *batch);
/* @brief Reply i of the last run (borrowed; valid until reset/free). */
redisReply *sc_redis_batch_reply(const struct sc_redis_batch *batch, size_t i);

#endif
