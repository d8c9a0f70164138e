/* CSV records to v1 posts by a column mapping. */
#include "csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "text.h"

#define INGEST_CSV_MAX_COLS 32

static const char *const ingest_csv_fields[] = {"id",
                                                "platform",
                                                "kind",
                                                "created_at",
                                                "text",
                                                "lang",
                                                "url",
                                                "in_reply_to",
                                                "thread_id",
                                                "author.id",
                                                "author.handle",
                                                "author.name",
                                                "author.followers",
                                                "author.verified",
                                                NULL};

struct ingest_csv {
    int n;
    int field[INGEST_CSV_MAX_COLS]; /* index into ingest_csv_fields, -1 = skip */
};

struct ingest_csv *ingest_csv_new(const char *columns, char *errstr, size_t errstr_size)
{
    struct ingest_csv *csv = sc_calloc(1, sizeof(*csv));
    const char *p = columns;
    while (1) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && p[0] == ' ')
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        if (csv->n == INGEST_CSV_MAX_COLS) {
            snprintf(errstr, errstr_size, "INGEST_CSV_COLUMNS: more than %d columns",
                     INGEST_CSV_MAX_COLS);
            sc_free(csv);
            return NULL;
        }
        int f = -1;
        if (len && !(len == 1 && *p == '-')) {
            for (int i = 0; ingest_csv_fields[i]; i++)
                if (strlen(ingest_csv_fields[i]) == len &&
                    memcmp(ingest_csv_fields[i], p, len) == 0)
                    f = i;
            if (f < 0) {
                snprintf(errstr, errstr_size,
                         "INGEST_CSV_COLUMNS: unknown field \"%.*s\"", (int)len, p);
                sc_free(csv);
                return NULL;
            }
        }
        csv->field[csv->n++] = f;
        if (!comma)
            break;
        p = comma + 1;
    }
    return csv;
}

void ingest_csv_free(struct ingest_csv *csv)
{
    sc_free(csv);
}

/* Splits a record into up to max fields (new strings); returns the count or -1. */
static int ingest_csv_split(const char *line, size_t len, char **out, int max)
{
    int n = 0;
    size_t i = 0;
    while (1) {
        if (n == max)
            return -1;
        char *buf = sc_malloc(len + 1);
        size_t b = 0;
        if (i < len && line[i] == '"') {
            i++;
            while (1) {
                if (i >= len) {
                    sc_free(buf);
                    return -1; /* unterminated quote */
                }
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        buf[b++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                buf[b++] = line[i++];
            }
            if (i < len && line[i] != ',') {
                sc_free(buf);
                return -1;
            }
        } else {
            while (i < len && line[i] != ',')
                buf[b++] = line[i++];
        }
        buf[b] = '\0';
        out[n++] = buf;
        if (i >= len)
            return n;
        i++; /* the comma */
    }
}

static void ingest_csv_free_fields(char **f, int n)
{
    for (int i = 0; i < n; i++)
        sc_free(f[i]);
}

bool ingest_csv_is_header(const struct ingest_csv *csv, const char *line, size_t len)
{
    char *f[INGEST_CSV_MAX_COLS];
    int n = ingest_csv_split(line, len, f, INGEST_CSV_MAX_COLS);
    if (n < 0)
        return false;
    bool header = n == csv->n;
    for (int i = 0; header && i < n; i++)
        header = csv->field[i] < 0 || strcmp(f[i], ingest_csv_fields[csv->field[i]]) == 0;
    ingest_csv_free_fields(f, n);
    return header;
}

json_t *ingest_csv_post(const struct ingest_csv *csv, const char *line, size_t len,
                        char *reason, size_t reason_size)
{
    char *f[INGEST_CSV_MAX_COLS];
    int n = ingest_csv_split(line, len, f, INGEST_CSV_MAX_COLS);
    if (n < 0) {
        snprintf(reason, reason_size, "invalid_csv: malformed record");
        return NULL;
    }
    if (n != csv->n) {
        snprintf(reason, reason_size, "invalid_csv: %d fields, mapping has %d", n,
                 csv->n);
        ingest_csv_free_fields(f, n);
        return NULL;
    }
    json_t *post = json_object();
    json_t *author = json_object();
    json_object_set_new(post, "v", json_integer(1));
    for (int i = 0; i < n; i++) {
        if (csv->field[i] < 0 || !f[i][0])
            continue;
        const char *name = ingest_csv_fields[csv->field[i]];
        if (strncmp(name, "author.", 7) == 0) {
            const char *key = name + 7;
            if (strcmp(key, "followers") == 0) {
                char *end;
                long long v = strtoll(f[i], &end, 10);
                if (*end || v < 0) {
                    snprintf(reason, reason_size, "invalid_csv: author.followers");
                    json_decref(post);
                    json_decref(author);
                    ingest_csv_free_fields(f, n);
                    return NULL;
                }
                json_object_set_new(author, key, json_integer(v));
            } else if (strcmp(key, "verified") == 0) {
                json_object_set_new(
                    author, key,
                    json_boolean(strcmp(f[i], "true") == 0 || strcmp(f[i], "1") == 0));
            } else {
                json_object_set_new(author, key, json_string(f[i]));
            }
        } else if (strcmp(name, "text") == 0) {
            char *t = ingest_nfc(f[i]);
            json_object_set_new(post, name, json_string(t));
            sc_free(t);
        } else {
            json_object_set_new(post, name, json_string(f[i]));
        }
    }
    json_object_set_new(post, "author", author);
    /* A bare platform id gets its prefix. */
    const char *platform = json_string_value(json_object_get(post, "platform"));
    const char *id = json_string_value(json_object_get(post, "id"));
    if (platform && id) {
        size_t pl = strlen(platform);
        if (strncmp(id, platform, pl) != 0 || id[pl] != ':') {
            char *full = sc_asprintf("%s:%s", platform, id);
            json_object_set_new(post, "id", json_string(full));
            sc_free(full);
        }
    }
    ingest_csv_free_fields(f, n);
    return post;
}
