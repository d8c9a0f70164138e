/* Text normalisation for posts: HTML (Mastodon's content) to plain text, HTML entities
 * decoded, Unicode NFC (utf8proc), and plain-text entity decoding for platforms that
 * escape &, < and > (X's v1.1 payloads). Pure functions. */
#ifndef INGESTOR_TEXT_H
#define INGESTOR_TEXT_H

#include <stddef.h>

/* @brief HTML fragment to plain text: tags dropped, <br> becomes a newline, paragraph
 * ends become a blank line, entities (named, &#N; and &#xN;) decoded, whitespace runs
 * collapsed, the result trimmed and NFC-normalised.
 * @returns a new string (sc_free). */
char *ingest_html_to_text(const char *html, size_t len);

/* @brief Plain text with HTML entities decoded and NFC-normalised (no tag handling).
 * @returns a new string (sc_free). */
char *ingest_plain_text(const char *text, size_t len);

/* @brief NFC normalisation of UTF-8 (invalid UTF-8 is returned unchanged).
 * @returns a new string (sc_free). */
char *ingest_nfc(const char *text);

#endif
