/* CSV replay: a column mapping ("id,platform,kind,created_at,author.id,text") turns each
 * CSV record (RFC 4180 quoting, one record per line) into a v1 post object. Pure. */
#ifndef INGESTOR_CSV_H
#define INGESTOR_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

struct ingest_csv;

/* @brief Parses the mapping (comma-separated post fields; "" or "-" skips a column).
 * @returns a new mapping, or NULL with errstr naming the unknown field. */
struct ingest_csv *ingest_csv_new(const char *columns, char *errstr, size_t errstr_size);
void ingest_csv_free(struct ingest_csv *csv);

/* @brief True when the line is a header (its fields equal the mapping's names). */
bool ingest_csv_is_header(const struct ingest_csv *csv, const char *line, size_t len);

/* @brief One record to a post (v = 1, numbers and booleans typed, text NFC). "id" may be
 * the bare platform id: it is prefixed with "<platform>:" when it lacks it.
 * @returns a new object, or NULL with reason ("invalid_csv: ..."). Not yet validated. */
json_t *ingest_csv_post(const struct ingest_csv *csv, const char *line, size_t len,
                        char *reason, size_t reason_size);

#endif
