/* Webhook authentication as pure functions: HMAC-SHA256 helpers, the X Account Activity
 * CRC answer and signature check, the Meta X-Hub-Signature-256 check, and the generic
 * signed webhook (X-Socialcare-Signature over "<timestamp>.<body>" with a freshness
 * window). Every comparison of a secret-derived value is constant-time (CRYPTO_memcmp).
 */
#ifndef INGESTOR_SIGNATURE_H
#define INGESTOR_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

/* Outcome of a signature check. */
enum ingest_sig {
    INGEST_SIG_OK = 0,
    INGEST_SIG_MISSING, /* no signature header (or no timestamp for the generic hook) */
    INGEST_SIG_BAD,     /* malformed or not matching */
    INGEST_SIG_STALE,   /* generic hook: timestamp outside the tolerance window */
};

/* @brief Short name of an outcome ("ok", "missing", "bad", "stale") for metric labels. */
const char *ingest_sig_name(enum ingest_sig sig);

/* @brief HMAC-SHA256 of msg with key into out (32 bytes). */
void ingest_hmac_sha256(const char *key, size_t key_len, const void *msg, size_t msg_len,
                        unsigned char out[32]);

/* @brief Writes "sha256=<base64 HMAC-SHA256(secret, crc_token)>" into buf (>= 52 bytes).
 * @returns its length, or -1 when buf is too small. */
int ingest_x_crc_response(const char *secret, const char *crc_token, char *buf,
                          size_t size);

/* @brief Checks x-twitter-webhooks-signature ("sha256=<base64 HMAC(secret, body)>"). */
enum ingest_sig ingest_x_verify(const char *secret, const void *body, size_t len,
                                const char *header);

/* @brief Checks X-Hub-Signature-256 ("sha256=<hex HMAC(app secret, body)>", hex in either
 * case). */
enum ingest_sig ingest_meta_verify(const char *secret, const void *body, size_t len,
                                   const char *header);

/* @brief Checks the generic webhook: ts_header is the Unix time in seconds of the
 * delivery, sig_header "sha256=<hex HMAC(secret, ts_header + "." + body)>". A timestamp
 * more than tolerance_s away from now_s is INGEST_SIG_STALE (checked after the
 * signature, so a forged delivery is always BAD). */
enum ingest_sig ingest_generic_verify(const char *secret, const void *body, size_t len,
                                      const char *ts_header, const char *sig_header,
                                      int64_t now_s, int64_t tolerance_s);

/* @brief Writes the generic signature header value for (ts, body) into buf (>= 72 bytes),
 * as a sender computes it (used by tests, tools and the benchmark).
 * @returns its length, or -1 when buf is too small. */
int ingest_generic_sign(const char *secret, const char *ts, const void *body, size_t len,
                        char *buf, size_t size);

#endif
