/* libFuzzer target of the ingestor's webhook signature checks (services/ingestor/
 * signature.h). The input is split at the first two NUL bytes into a header value, a
 * timestamp header and the body; each check runs on them with a fixed secret, and a
 * correctly signed copy of the same body must always verify. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "signature.h"

#define SECRET "fuzz-secret"

/* Copies data[0..n) into a NUL-terminated heap string. */
static char *dup_n(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL) {
        abort();
    }
    if (n > 0) {
        memcpy(s, data, n);
    }
    s[n] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size;
    const uint8_t *z1 = memchr(data, 0, size);
    const uint8_t *hdr_end = z1 ? z1 : end;
    const uint8_t *rest = z1 ? z1 + 1 : end;
    const uint8_t *z2 = memchr(rest, 0, (size_t)(end - rest));
    const uint8_t *ts_end = z2 ? z2 : rest;
    const uint8_t *body = z2 ? z2 + 1 : rest;
    size_t body_len = (size_t)(end - body);

    char *header = dup_n(data, (size_t)(hdr_end - data));
    char *ts = dup_n(rest, (size_t)(ts_end - rest));

    (void)ingest_sig_name(ingest_x_verify(SECRET, body, body_len, header));
    (void)ingest_meta_verify(SECRET, body, body_len, header);
    (void)ingest_generic_verify(SECRET, body, body_len, ts, header, 1700000000, 300);
    (void)ingest_x_verify(SECRET, body, body_len, NULL);
    (void)ingest_meta_verify(SECRET, body, body_len, NULL);
    (void)ingest_generic_verify(SECRET, body, body_len, NULL, header, 1700000000, 300);

    char crc[128];
    if (ingest_x_crc_response(SECRET, header, crc, sizeof crc) < 0) {
        abort();
    }
    /* The CRC answer is exactly what a valid x-twitter-webhooks-signature of the token
     * looks like. */
    if (ingest_x_verify(SECRET, header, strlen(header), crc) != INGEST_SIG_OK) {
        abort();
    }
    char small[8];
    if (ingest_x_crc_response(SECRET, header, small, sizeof small) != -1) {
        abort();
    }

    /* A delivery signed as a sender signs it verifies, whatever the body. */
    char sig[128];
    if (ingest_generic_sign(SECRET, "1700000000", body, body_len, sig, sizeof sig) < 0) {
        abort();
    }
    if (ingest_generic_verify(SECRET, body, body_len, "1700000000", sig, 1700000000,
                              300) != INGEST_SIG_OK) {
        abort();
    }
    (void)ingest_generic_sign(SECRET, ts, body, body_len, sig, sizeof sig);
    free(ts);
    free(header);
    return 0;
}
