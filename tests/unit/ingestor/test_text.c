/* Unit tests of text normalisation: Mastodon HTML to plain text (tags, links, line and
 * paragraph breaks), named and numeric entities, NFC composition, malformed entities kept
 * as they are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "alloc.h"
#include "text.h"

static void check_html(const char *html, const char *want)
{
    char *got = ingest_html_to_text(html, strlen(html));
    assert_string_equal(got, want);
    sc_free(got);
}

static void test_html(void **state)
{
    (void)state;
    check_html(
        "<p><span class=\"h-card\"><a href=\"https://m.example/@acme\" "
        "class=\"u-url mention\">@<span>acme</span></a></span> my order "
        "&amp; refund &lt;3 &quot;late&quot;</p><p>second&#39;s para<br>line "
        "&#x1F600;</p>",
        "@acme my order & refund <3 \"late\"\n\nsecond's para\nline \xF0\x9F\x98\x80");
    check_html("  a   <b>b</b>\t c  ", "a b c");
    check_html("5 &lt; 6 &unknown; &#xZZ; & done", "5 < 6 &unknown; &#xZZ; & done");
    check_html("caf&eacute; &hellip;&nbsp;ok", "caf\xC3\xA9 \xE2\x80\xA6\xC2\xA0ok");
    check_html("", "");
    check_html("unclosed <tag", "unclosed <tag");
}

static void test_nfc(void **state)
{
    (void)state;
    /* "e" + combining acute becomes the precomposed é. */
    char *got = ingest_nfc("Cafe\xCC\x81");
    assert_string_equal(got, "Caf\xC3\xA9");
    sc_free(got);
    const char *plain = "AT&amp;T &gt; e\xCC\x81";
    got = ingest_plain_text(plain, strlen(plain));
    assert_string_equal(got, "AT&T > \xC3\xA9");
    sc_free(got);
    got = ingest_plain_text("&#0; &#xD800;", 13);
    assert_string_equal(got, "\xEF\xBF\xBD \xEF\xBF\xBD");
    sc_free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_nfc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
