/* Unit tests of webhook authentication: HMAC-SHA256 against RFC 4231, the X CRC answer,
 * X / Meta / generic signature checks with valid, forged, missing, malformed and stale
 * headers. Expected values are fixed vectors (computed independently with Python's hmac)
 * and cross-checked with OpenSSL's one-shot HMAC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "signature.h"

static void hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static void test_hmac_rfc4231(void **state)
{
    (void)state;
    unsigned char mac[32];
    char h[65];
    ingest_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    hex(mac, 32, h);
    assert_string_equal(
        h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_x_crc(void **state)
{
    (void)state;
    char buf[64];
    int n = ingest_x_crc_response("consumer-secret", "crc-abc", buf, sizeof(buf));
    assert_int_equal(n, (int)strlen(buf));
    assert_string_equal(buf, "sha256=DZywgWGuak0JXVCr+3Hb/dFKwOje8R4TjOfWNmMohbc=");
    assert_int_equal(ingest_x_crc_response("s", "t", buf, 20), -1);
}

static void test_x_verify(void **state)
{
    (void)state;
    const char *body = "{\"for_user_id\":\"1\"}";
    unsigned char mac[32];
    unsigned int len = 32;
    HMAC(EVP_sha256(), "cs", 2, (const unsigned char *)body, strlen(body), mac, &len);
    char header[64] = "sha256=";
    EVP_EncodeBlock((unsigned char *)header + 7, mac, 32);
    assert_int_equal(ingest_x_verify("cs", body, strlen(body), header), INGEST_SIG_OK);
    assert_int_equal(ingest_x_verify("other", body, strlen(body), header),
                     INGEST_SIG_BAD);
    assert_int_equal(ingest_x_verify("cs", body, strlen(body) - 1, header),
                     INGEST_SIG_BAD);
    assert_int_equal(ingest_x_verify("cs", body, strlen(body), NULL), INGEST_SIG_MISSING);
    assert_int_equal(ingest_x_verify("cs", body, strlen(body), ""), INGEST_SIG_MISSING);
    assert_int_equal(ingest_x_verify("cs", body, strlen(body), header + 7),
                     INGEST_SIG_BAD);
    header[10] ^= 1;
    assert_int_equal(ingest_x_verify("cs", body, strlen(body), header), INGEST_SIG_BAD);
}

static void test_meta_verify(void **state)
{
    (void)state;
    const char *body = "{\"object\":\"page\"}";
    const char *good =
        "sha256=ae958d6f00b134dd32b95a9a76bedaaeb068c0949769358355023f7d1a0c580b";
    const char *upper =
        "sha256=AE958D6F00B134DD32B95A9A76BEDAAEB068C0949769358355023F7D1A0C580B";
    assert_int_equal(ingest_meta_verify("app-secret", body, strlen(body), good),
                     INGEST_SIG_OK);
    assert_int_equal(ingest_meta_verify("app-secret", body, strlen(body), upper),
                     INGEST_SIG_OK);
    assert_int_equal(ingest_meta_verify("wrong", body, strlen(body), good),
                     INGEST_SIG_BAD);
    assert_int_equal(ingest_meta_verify("app-secret", "{}", 2, good), INGEST_SIG_BAD);
    assert_int_equal(ingest_meta_verify("app-secret", body, strlen(body), "sha1=abc"),
                     INGEST_SIG_BAD);
    assert_int_equal(ingest_meta_verify("app-secret", body, strlen(body), NULL),
                     INGEST_SIG_MISSING);
}

static void test_generic(void **state)
{
    (void)state;
    const char *sig =
        "sha256=9a0d0625ddc33bab0f053f0706491b1a2073f373021cae63f477e5da88ce55ab";
    char buf[80];
    assert_true(ingest_generic_sign("gsecret", "1795333409", "[]", 2, buf, sizeof(buf)) >
                0);
    assert_string_equal(buf, sig);
    assert_int_equal(ingest_generic_verify("gsecret", "[]", 2, "1795333409", sig,
                                           1795333409 + 10, 300),
                     INGEST_SIG_OK);
    /* Stale either way, but only once the signature is right. */
    assert_int_equal(ingest_generic_verify("gsecret", "[]", 2, "1795333409", sig,
                                           1795333409 + 301, 300),
                     INGEST_SIG_STALE);
    assert_int_equal(ingest_generic_verify("gsecret", "[]", 2, "1795333409", sig,
                                           1795333409 - 301, 300),
                     INGEST_SIG_STALE);
    /* A replayed signature with a fresh timestamp does not match. */
    assert_int_equal(
        ingest_generic_verify("gsecret", "[]", 2, "1795333700", sig, 1795333700, 300),
        INGEST_SIG_BAD);
    assert_int_equal(
        ingest_generic_verify("other", "[]", 2, "1795333409", sig, 1795333409, 300),
        INGEST_SIG_BAD);
    assert_int_equal(ingest_generic_verify("gsecret", "[]", 2, NULL, sig, 0, 300),
                     INGEST_SIG_MISSING);
    assert_int_equal(
        ingest_generic_verify("gsecret", "[]", 2, "1795333409", NULL, 0, 300),
        INGEST_SIG_MISSING);
    assert_int_equal(ingest_generic_verify("gsecret", "[]", 2, "17x", sig, 0, 300),
                     INGEST_SIG_BAD);
    assert_string_equal(ingest_sig_name(INGEST_SIG_STALE), "stale");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231), cmocka_unit_test(test_x_crc),
        cmocka_unit_test(test_x_verify),     cmocka_unit_test(test_meta_verify),
        cmocka_unit_test(test_generic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
