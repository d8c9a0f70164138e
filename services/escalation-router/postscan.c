/* The router's fast, allocation-free read of a classified post (see postscan.h): the
 * shared tree-less post reader (shared/jscan.h), which mirrors the post rules of
 * shared/event.c and declines whatever it does not mirror exactly, plus the router's own
 * requirement of a classification. */
#include "postscan.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "event.h"
#include "jscan.h"

void postscan_arena_reset(struct postscan_arena *a, size_t need)
{
    if (need > a->cap) {
        sc_free(a->buf);
        a->cap = need + need / 2;
        a->buf = sc_malloc(a->cap);
    }
    a->used = 0;
}

void postscan_arena_free(struct postscan_arena *a)
{
    sc_free(a->buf);
    a->buf = NULL;
    a->used = a->cap = 0;
}

bool router_post_scan(const char *buf, size_t len, struct postscan_arena *arena,
                      struct post_fields *out)
{
    struct sc_jscan_post p;
    size_t used;
    if (!sc_jscan_post(buf, len, arena->buf + arena->used, &used, &p))
        return false;
    /* what the router needs: the classification (else the full path names it) */
    if (!p.intent || !p.topic || !p.label)
        return false;
    arena->used += used;
    *out = (struct post_fields){
        .id = p.id,
        .platform = p.platform,
        .kind = p.kind,
        .created_at = p.created_at,
        .text = p.text,
        .lang = p.lang,
        .region = p.region,
        .source_type = p.source_type,
        .author_id = p.author_id,
        .handle = p.handle,
        .intent = p.intent,
        .topic = p.topic,
        .label = p.label,
        .score = p.score,
        .influence = p.influence,
        .followers = p.followers,
        .verified = p.verified,
        .interactions = p.interactions,
    };
    return true;
}

void post_fields_from_json(const json_t *ev, struct post_fields *o)
{
    memset(o, 0, sizeof(*o));
    json_t *cls = json_object_get(ev, "classification");
    json_t *sentiment = json_object_get(cls, "sentiment");
    json_t *author = json_object_get(ev, "author");
    json_t *eng = json_object_get(ev, "engagement");
    o->id = sc_event_str(ev, "id");
    o->platform = sc_event_str(ev, "platform");
    o->kind = sc_event_str(ev, "kind");
    o->created_at = sc_event_str(ev, "created_at");
    o->text = sc_event_str(ev, "text");
    o->lang = sc_event_str(ev, "lang");
    o->region = sc_event_str(ev, "region");
    if (!o->region)
        o->region = sc_event_path(ev, "author", "region");
    o->source_type = sc_event_path(ev, "source", "type");
    o->author_id = sc_event_path(ev, "author", "id");
    o->handle = sc_event_path(ev, "author", "handle");
    o->intent = json_string_value(json_object_get(cls, "intent"));
    o->topic = json_string_value(json_object_get(cls, "topic"));
    o->label = json_string_value(json_object_get(sentiment, "label"));
    o->score = json_number_value(json_object_get(sentiment, "score"));
    o->influence = json_number_value(json_object_get(cls, "influence"));
    /* counts are validated integers up to INT64_MAX: no double round trip (2^63 does
     * not convert back), and a saturating sum */
    o->followers = (long long)json_integer_value(json_object_get(author, "followers"));
    o->verified = json_is_true(json_object_get(author, "verified"));
    static const char *const counters[] = {"likes", "reposts", "replies"};
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        long long v = (long long)json_integer_value(json_object_get(eng, counters[i]));
        if (v > 0)
            o->interactions =
                v > LLONG_MAX - o->interactions ? LLONG_MAX : o->interactions + v;
    }
}
