/* The router's fast read of a classified post: one pass over the message bytes that
 * checks the JSON grammar and the v1 post schema (the same rules as sc_event_parse for
 * SC_EVENT_POST) and picks out only the fields the router needs, without building a
 * jansson tree (parsing the tree and its allocations were two thirds of the router's main
 * thread). The fast path is conservative: anything it does not handle itself — an escape
 * sequence in a string, an exponent or a very long integer, an unknown platform, a
 * schema violation, a missing classification field — makes it decline, and the caller
 * then parses the message with sc_event_parse, which accepts it or names the reason to
 * dead-letter it. So the fast path never accepts a post the full parser would reject, and
 * a declined post costs one extra scan. The scan is the shared post reader
 * (shared/jscan.h); this adds the router's need of a classification. */
#ifndef ROUTER_POSTSCAN_H
#define ROUTER_POSTSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* The fields of a post the router uses. Strings are NUL-terminated and borrowed (from
 * the scan arena, or from the jansson tree for post_fields_from_json); NULL when absent
 * or not a string. */
struct post_fields {
    const char *id, *platform, *kind, *created_at, *text, *lang, *region;
    const char *source_type, *author_id, *handle;
    const char *intent, *topic, *label; /* classification */
    double score;                       /* classification.sentiment.score (0 if absent) */
    double influence;                   /* classification.influence (0 if absent) */
    long long followers;                /* author.followers (0 if absent) */
    bool verified;                      /* author.verified */
    long long interactions; /* engagement likes + reposts + replies (saturating) */
};

/* A byte arena for the strings of a batch's posts (reset per batch). */
struct postscan_arena {
    char *buf;
    size_t used, cap;
};

/* @brief Makes room for at least `need` bytes after a reset (pointers into the arena
 *        from before the reset become invalid). */
void postscan_arena_reset(struct postscan_arena *a, size_t need);
void postscan_arena_free(struct postscan_arena *a);

/* @brief Scans buf[0..len) as a classified post (default limits of shared/event.h).
 *        Copies the strings it returns into the arena, which must have len + 16 bytes
 *        free.
 * @returns true when the post is valid and has every field the router needs
 *          (classification intent, topic, sentiment label); false when the caller must
 *          use sc_event_parse (out is then undefined and the arena unchanged). */
bool router_post_scan(const char *buf, size_t len, struct postscan_arena *arena,
                      struct post_fields *out);

/* @brief Fills out from a post parsed and validated by sc_event_parse (strings borrowed
 *        from the tree). */
void post_fields_from_json(const json_t *post, struct post_fields *out);

#endif
