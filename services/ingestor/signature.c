/* Webhook signatures: HMAC-SHA256 (OpenSSL), base64/hex encodings, constant-time checks
 * of the X, Meta and generic webhook headers. Pure functions, no I/O. */
#include "signature.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <pthread.h>

const char *ingest_sig_name(enum ingest_sig sig)
{
    switch (sig) {
        case INGEST_SIG_OK:
            return "ok";
        case INGEST_SIG_MISSING:
            return "missing";
        case INGEST_SIG_BAD:
            return "bad";
        case INGEST_SIG_STALE:
            return "stale";
    }
    return "bad";
}

void ingest_hmac_sha256(const char *key, size_t key_len, const void *msg, size_t msg_len,
                        unsigned char out[32])
{
    unsigned int out_len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &out_len);
}

static void ingest_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int ingest_x_crc_response(const char *secret, const char *crc_token, char *buf,
                          size_t size)
{
    unsigned char mac[32];
    ingest_hmac_sha256(secret, strlen(secret), crc_token, strlen(crc_token), mac);
    if (size < 7 + 45)
        return -1;
    memcpy(buf, "sha256=", 7);
    int n = EVP_EncodeBlock((unsigned char *)buf + 7, mac, 32);
    return 7 + n;
}

/* Compares "sha256=" + expected text against header in constant time over the text. */
static enum ingest_sig ingest_compare(const char *header, const char *expected,
                                      size_t expected_len, int fold_case)
{
    if (!header || !*header)
        return INGEST_SIG_MISSING;
    if (strncmp(header, "sha256=", 7) != 0)
        return INGEST_SIG_BAD;
    const char *got = header + 7;
    if (strlen(got) != expected_len)
        return INGEST_SIG_BAD;
    char folded[128];
    if (expected_len >= sizeof(folded))
        return INGEST_SIG_BAD;
    for (size_t i = 0; i < expected_len; i++)
        folded[i] = fold_case ? (char)tolower((unsigned char)got[i]) : got[i];
    return CRYPTO_memcmp(folded, expected, expected_len) == 0 ? INGEST_SIG_OK
                                                              : INGEST_SIG_BAD;
}

enum ingest_sig ingest_x_verify(const char *secret, const void *body, size_t len,
                                const char *header)
{
    unsigned char mac[32];
    char expected[48];
    ingest_hmac_sha256(secret, strlen(secret), body, len, mac);
    int n = EVP_EncodeBlock((unsigned char *)expected, mac, 32);
    return ingest_compare(header, expected, (size_t)n, 0);
}

enum ingest_sig ingest_meta_verify(const char *secret, const void *body, size_t len,
                                   const char *header)
{
    unsigned char mac[32];
    char expected[65];
    ingest_hmac_sha256(secret, strlen(secret), body, len, mac);
    ingest_hex(mac, 32, expected);
    return ingest_compare(header, expected, 64, 1);
}

static EVP_MAC *ingest_mac;
static pthread_once_t ingest_mac_once = PTHREAD_ONCE_INIT;

static void ingest_mac_init(void)
{
    ingest_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* HMAC over ts "." body without copying the body (EVP_MAC, fetched once). */
static void ingest_generic_mac(const char *secret, const char *ts, const void *body,
                               size_t len, char hex[65])
{
    unsigned char mac[32];
    size_t mac_len = 0;
    pthread_once(&ingest_mac_once, ingest_mac_init);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(ingest_mac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    memset(mac, 0, sizeof(mac));
    if (ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params)) {
        EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts));
        EVP_MAC_update(ctx, (const unsigned char *)".", 1);
        EVP_MAC_update(ctx, body, len);
        EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac));
    }
    EVP_MAC_CTX_free(ctx);
    ingest_hex(mac, 32, hex);
}

int ingest_generic_sign(const char *secret, const char *ts, const void *body, size_t len,
                        char *buf, size_t size)
{
    char hex[65];
    ingest_generic_mac(secret, ts, body, len, hex);
    int n = snprintf(buf, size, "sha256=%s", hex);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

enum ingest_sig ingest_generic_verify(const char *secret, const void *body, size_t len,
                                      const char *ts_header, const char *sig_header,
                                      int64_t now_s, int64_t tolerance_s)
{
    if (!sig_header || !*sig_header || !ts_header || !*ts_header)
        return INGEST_SIG_MISSING;
    char *end;
    long long ts = strtoll(ts_header, &end, 10);
    if (*end || end == ts_header || strlen(ts_header) > 20)
        return INGEST_SIG_BAD;
    char hex[65];
    ingest_generic_mac(secret, ts_header, body, len, hex);
    enum ingest_sig sig = ingest_compare(sig_header, hex, 64, 1);
    if (sig != INGEST_SIG_OK)
        return sig;
    long long delta = (long long)now_s - ts;
    if (delta > tolerance_s || delta < -tolerance_s)
        return INGEST_SIG_STALE;
    return INGEST_SIG_OK;
}
