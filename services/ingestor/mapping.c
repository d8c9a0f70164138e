/* Platform payloads to v1 posts: one mapper per platform shape, sharing a small builder.
 */
#include "mapping.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "lifecycle.h"
#include "text.h"

static const char *ingest_s(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* A number that may come as an integer or a numeric string. */
static json_int_t ingest_i(const json_t *obj, const char *key, json_int_t def)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v)) {
        char *end;
        long long n = strtoll(json_string_value(v), &end, 10);
        if (*end == '\0' && end != json_string_value(v))
            return n;
    }
    return def;
}

static void ingest_set_str(json_t *obj, const char *key, const char *value)
{
    if (value && *value)
        json_object_set_new(obj, key, json_string(value));
}

/* "<platform>:<id>" as a JSON string. */
static json_t *ingest_pid(const char *platform, const char *id)
{
    char *s = sc_asprintf("%s:%s", platform, id);
    json_t *j = json_string(s);
    sc_free(s);
    return j;
}

/* The common skeleton of a post; text is taken (sc_free'd). */
static json_t *ingest_post(const char *platform, const char *id, const char *kind,
                           const char *created_at, char *text, const char *source_type,
                           const char *source_name)
{
    json_t *post = json_object();
    json_object_set_new(post, "v", json_integer(1));
    json_object_set_new(post, "id", ingest_pid(platform, id));
    json_object_set_new(post, "platform", json_string(platform));
    json_object_set_new(post, "kind", json_string(kind));
    json_object_set_new(post, "created_at", json_string(created_at));
    json_object_set_new(post, "text", json_string(text ? text : ""));
    sc_free(text);
    json_t *source = json_object();
    json_object_set_new(source, "type", json_string(source_type));
    ingest_set_str(source, "name", source_name);
    json_object_set_new(post, "source", source);
    return post;
}

static json_t *ingest_author(const char *id, const char *handle, const char *name,
                             json_int_t followers, int verified)
{
    json_t *a = json_object();
    json_object_set_new(a, "id", json_string(id));
    ingest_set_str(a, "handle", handle);
    ingest_set_str(a, "name", name);
    if (followers >= 0)
        json_object_set_new(a, "followers", json_integer(followers));
    if (verified >= 0)
        json_object_set_new(a, "verified", json_boolean(verified));
    return a;
}

static void ingest_engagement(json_t *post, json_int_t likes, json_int_t reposts,
                              json_int_t replies)
{
    json_t *e = json_object();
    if (likes >= 0)
        json_object_set_new(e, "likes", json_integer(likes));
    if (reposts >= 0)
        json_object_set_new(e, "reposts", json_integer(reposts));
    if (replies >= 0)
        json_object_set_new(e, "replies", json_integer(replies));
    if (json_object_size(e))
        json_object_set_new(post, "engagement", e);
    else
        json_decref(e);
}

static void ingest_time_ms(int64_t ms, char *buf, size_t size)
{
    sc_format_time(ms, buf, size);
}

int ingest_x_legacy_time(const char *text, char *buf, size_t size)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char wday[4], mon[4];
    int day, hh, mm, ss, year;
    char zone[6];
    if (!text || sscanf(text, "%3s %3s %d %d:%d:%d %5s %d", wday, mon, &day, &hh, &mm,
                        &ss, zone, &year) != 8)
        return -1;
    int m = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(mon, months[i]) == 0)
            m = i;
    if (m < 0 || strcmp(zone, "+0000") != 0)
        return -1;
    int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", year, m + 1, day, hh,
                     mm, ss);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* ------------------------------------------------------------------ X Account Activity
 */

static void ingest_x_tweet(const json_t *tweet, const char *for_user, json_t *out)
{
    const json_t *user = json_object_get(tweet, "user");
    const char *id = ingest_s(tweet, "id_str");
    const char *uid = ingest_s(user, "id_str");
    if (!id || !uid || (for_user && strcmp(uid, for_user) == 0) ||
        json_object_get(tweet, "retweeted_status"))
        return;
    const json_t *ext = json_object_get(tweet, "extended_tweet");
    const char *text = ingest_s(ext, "full_text");
    if (!text)
        text = ingest_s(tweet, "full_text");
    if (!text)
        text = ingest_s(tweet, "text");
    char created[40];
    if (ingest_x_legacy_time(ingest_s(tweet, "created_at"), created, sizeof(created)) !=
        0) {
        json_int_t ms = ingest_i(tweet, "timestamp_ms", -1);
        if (ms < 0)
            return;
        ingest_time_ms(ms, created, sizeof(created));
    }
    const char *parent = ingest_s(tweet, "in_reply_to_status_id_str");
    json_t *post =
        ingest_post("x", id, parent ? "reply" : "mention", created,
                    ingest_plain_text(text ? text : "", text ? strlen(text) : 0),
                    "webhook", "x-account-activity");
    json_object_set_new(
        post, "author",
        ingest_author(uid, ingest_s(user, "screen_name"), ingest_s(user, "name"),
                      ingest_i(user, "followers_count", -1),
                      json_is_boolean(json_object_get(user, "verified"))
                          ? json_is_true(json_object_get(user, "verified"))
                          : -1));
    if (parent)
        json_object_set_new(post, "in_reply_to", ingest_pid("x", parent));
    ingest_set_str(post, "lang", ingest_s(tweet, "lang"));
    const char *handle = ingest_s(user, "screen_name");
    if (handle) {
        char *url = sc_asprintf("https://x.com/%s/status/%s", handle, id);
        json_object_set_new(post, "url", json_string(url));
        sc_free(url);
    }
    ingest_engagement(post, ingest_i(tweet, "favorite_count", -1),
                      ingest_i(tweet, "retweet_count", -1),
                      ingest_i(tweet, "reply_count", -1));
    json_array_append_new(out, post);
}

static void ingest_x_dm(const json_t *ev, const json_t *users, const char *for_user,
                        json_t *out)
{
    if (strcmp(ingest_s(ev, "type") ? ingest_s(ev, "type") : "", "message_create") != 0)
        return;
    const json_t *mc = json_object_get(ev, "message_create");
    const char *id = ingest_s(ev, "id");
    const char *sender = ingest_s(mc, "sender_id");
    if (!id || !sender || (for_user && strcmp(sender, for_user) == 0))
        return;
    const char *text = ingest_s(json_object_get(mc, "message_data"), "text");
    char created[40];
    json_int_t ms = ingest_i(ev, "created_timestamp", -1);
    if (ms < 0)
        return;
    ingest_time_ms(ms, created, sizeof(created));
    json_t *post =
        ingest_post("x", id, "dm", created,
                    ingest_plain_text(text ? text : "", text ? strlen(text) : 0),
                    "webhook", "x-account-activity");
    const json_t *user = json_object_get(users, sender);
    json_object_set_new(
        post, "author",
        ingest_author(sender, ingest_s(user, "screen_name"), ingest_s(user, "name"),
                      ingest_i(user, "followers_count", -1),
                      json_is_boolean(json_object_get(user, "verified"))
                          ? json_is_true(json_object_get(user, "verified"))
                          : -1));
    char *thread = sc_asprintf("x:dm-%s", sender);
    json_object_set_new(post, "thread_id", json_string(thread));
    sc_free(thread);
    json_array_append_new(out, post);
}

size_t ingest_map_x_activity(const json_t *payload, json_t *out)
{
    size_t before = json_array_size(out);
    const char *for_user = ingest_s(payload, "for_user_id");
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(payload, "tweet_create_events"), i, item)
        ingest_x_tweet(item, for_user, out);
    const json_t *users = json_object_get(payload, "users");
    json_array_foreach(json_object_get(payload, "direct_message_events"), i, item)
        ingest_x_dm(item, users, for_user, out);
    return json_array_size(out) - before;
}

/* ------------------------------------------------------------------ Meta */

static void ingest_meta_change(const char *platform, const char *page_id,
                               const json_t *change, json_t *out)
{
    const char *field = ingest_s(change, "field");
    const json_t *v = json_object_get(change, "value");
    if (!field || !v)
        return;
    const char *id = NULL, *text = NULL, *parent = NULL, *thread = NULL;
    const json_t *from = json_object_get(v, "from");
    json_int_t created_s = -1;
    if (strcmp(platform, "facebook") == 0 && strcmp(field, "feed") == 0) {
        const char *item = ingest_s(v, "item"), *verb = ingest_s(v, "verb");
        if (!item || strcmp(item, "comment") != 0 || !verb || strcmp(verb, "add") != 0)
            return;
        id = ingest_s(v, "comment_id");
        text = ingest_s(v, "message");
        parent = ingest_s(v, "parent_id");
        thread = ingest_s(v, "post_id");
        created_s = ingest_i(v, "created_time", -1);
    } else if (strcmp(platform, "instagram") == 0 &&
               (strcmp(field, "comments") == 0 || strcmp(field, "live_comments") == 0)) {
        id = ingest_s(v, "id");
        text = ingest_s(v, "text");
        parent = ingest_s(v, "parent_id");
        thread = ingest_s(json_object_get(v, "media"), "id");
    } else {
        return;
    }
    const char *uid = ingest_s(from, "id");
    if (!id || !uid || (page_id && strcmp(uid, page_id) == 0))
        return;
    char created[40];
    ingest_time_ms(created_s >= 0 ? created_s * 1000 : sc_wall_ms(), created,
                   sizeof(created));
    json_t *post = ingest_post(platform, id, "comment", created,
                               ingest_nfc(text ? text : ""), "webhook", "meta");
    json_object_set_new(
        post, "author",
        ingest_author(uid, ingest_s(from, "username"), ingest_s(from, "name"), -1, -1));
    if (parent && (!thread || strcmp(parent, thread) != 0))
        json_object_set_new(post, "in_reply_to", ingest_pid(platform, parent));
    else if (thread)
        json_object_set_new(post, "in_reply_to", ingest_pid(platform, thread));
    if (thread)
        json_object_set_new(post, "thread_id", ingest_pid(platform, thread));
    json_array_append_new(out, post);
}

static void ingest_meta_message(const char *platform, const char *page_id,
                                const json_t *m, json_t *out)
{
    const json_t *msg = json_object_get(m, "message");
    const char *sender = ingest_s(json_object_get(m, "sender"), "id");
    const char *mid = ingest_s(msg, "mid");
    if (!msg || !mid || !sender || json_is_true(json_object_get(msg, "is_echo")) ||
        json_is_true(json_object_get(msg, "is_deleted")) ||
        (page_id && strcmp(sender, page_id) == 0))
        return;
    const char *text = ingest_s(msg, "text");
    if (!text) /* attachments only: keep the post, say so */
        text = "[attachment]";
    char created[40];
    json_int_t ms = ingest_i(m, "timestamp", -1);
    ingest_time_ms(ms >= 0 ? ms : sc_wall_ms(), created, sizeof(created));
    json_t *post =
        ingest_post(platform, mid, "dm", created, ingest_nfc(text), "webhook", "meta");
    json_object_set_new(post, "author", ingest_author(sender, NULL, NULL, -1, -1));
    char *thread = sc_asprintf("%s:dm-%s", platform, sender);
    json_object_set_new(post, "thread_id", json_string(thread));
    sc_free(thread);
    const char *reply_to = ingest_s(json_object_get(msg, "reply_to"), "mid");
    if (reply_to)
        json_object_set_new(post, "in_reply_to", ingest_pid(platform, reply_to));
    json_array_append_new(out, post);
}

size_t ingest_map_meta(const json_t *payload, json_t *out)
{
    size_t before = json_array_size(out);
    const char *object = ingest_s(payload, "object");
    if (!object)
        return 0;
    const char *platform = strcmp(object, "instagram") == 0 ? "instagram"
                           : strcmp(object, "page") == 0    ? "facebook"
                                                            : NULL;
    if (!platform)
        return 0;
    size_t i, j;
    json_t *entry, *item;
    json_array_foreach(json_object_get(payload, "entry"), i, entry)
    {
        const char *page_id = ingest_s(entry, "id");
        json_array_foreach(json_object_get(entry, "changes"), j, item)
            ingest_meta_change(platform, page_id, item, out);
        json_array_foreach(json_object_get(entry, "messaging"), j, item)
            ingest_meta_message(platform, page_id, item, out);
    }
    return json_array_size(out) - before;
}

/* ------------------------------------------------------------------ Mastodon */

size_t ingest_map_mastodon_status(const json_t *status, const char *kind_hint,
                                  const char *source_name, json_t *out)
{
    const char *id = ingest_s(status, "id");
    const json_t *acct = json_object_get(status, "account");
    const char *uid = ingest_s(acct, "id");
    const char *created = ingest_s(status, "created_at");
    const json_t *reblog = json_object_get(status, "reblog");
    if (!id || !uid || !created || (reblog && !json_is_null(reblog)))
        return 0;
    const char *content = ingest_s(status, "content");
    const char *parent = ingest_s(status, "in_reply_to_id");
    const char *kind = kind_hint ? kind_hint : parent ? "reply" : "mention";
    json_t *post = ingest_post(
        "mastodon", id, kind, created,
        ingest_html_to_text(content ? content : "", content ? strlen(content) : 0),
        "poll", source_name);
    json_object_set_new(post, "author",
                        ingest_author(uid, ingest_s(acct, "acct"),
                                      ingest_s(acct, "display_name"),
                                      ingest_i(acct, "followers_count", -1), -1));
    if (parent)
        json_object_set_new(post, "in_reply_to", ingest_pid("mastodon", parent));
    ingest_set_str(post, "lang", ingest_s(status, "language"));
    ingest_set_str(post, "url", ingest_s(status, "url"));
    ingest_engagement(post, ingest_i(status, "favourites_count", -1),
                      ingest_i(status, "reblogs_count", -1),
                      ingest_i(status, "replies_count", -1));
    json_array_append_new(out, post);
    return 1;
}

/* ------------------------------------------------------------------ X API v2 */

size_t ingest_map_x_v2(const json_t *page, const char *own_user_id,
                       const char *source_name, json_t *out)
{
    size_t before = json_array_size(out);
    const json_t *users = json_object_get(json_object_get(page, "includes"), "users");
    size_t i, j;
    json_t *tw, *u;
    json_array_foreach(json_object_get(page, "data"), i, tw)
    {
        const char *id = ingest_s(tw, "id");
        const char *uid = ingest_s(tw, "author_id");
        const char *created = ingest_s(tw, "created_at");
        const char *text = ingest_s(tw, "text");
        if (!id || !uid || !created || (own_user_id && strcmp(uid, own_user_id) == 0))
            continue;
        const char *parent = NULL;
        bool retweet = false;
        json_array_foreach(json_object_get(tw, "referenced_tweets"), j, u)
        {
            const char *type = ingest_s(u, "type");
            if (type && strcmp(type, "replied_to") == 0)
                parent = ingest_s(u, "id");
            if (type && strcmp(type, "retweeted") == 0)
                retweet = true;
        }
        if (retweet)
            continue;
        json_t *post =
            ingest_post("x", id, parent ? "reply" : "mention", created,
                        ingest_plain_text(text ? text : "", text ? strlen(text) : 0),
                        "poll", source_name);
        const json_t *user = NULL;
        json_array_foreach(users, j, u)
        {
            const char *cand = ingest_s(u, "id");
            if (cand && strcmp(cand, uid) == 0) {
                user = u;
                break;
            }
        }
        const json_t *verified = json_object_get(user, "verified");
        json_object_set_new(
            post, "author",
            ingest_author(
                uid, ingest_s(user, "username"), ingest_s(user, "name"),
                ingest_i(json_object_get(user, "public_metrics"), "followers_count", -1),
                json_is_boolean(verified) ? json_is_true(verified) : -1));
        if (parent)
            json_object_set_new(post, "in_reply_to", ingest_pid("x", parent));
        const char *conv = ingest_s(tw, "conversation_id");
        if (conv)
            json_object_set_new(post, "thread_id", ingest_pid("x", conv));
        ingest_set_str(post, "lang", ingest_s(tw, "lang"));
        const json_t *pm = json_object_get(tw, "public_metrics");
        ingest_engagement(post, ingest_i(pm, "like_count", -1),
                          ingest_i(pm, "retweet_count", -1),
                          ingest_i(pm, "reply_count", -1));
        json_array_append_new(out, post);
    }
    return json_array_size(out) - before;
}

/* ------------------------------------------------------------------ Bluesky */

size_t ingest_map_bluesky(const json_t *n, const char *source_name, json_t *out)
{
    const char *reason = ingest_s(n, "reason");
    const char *uri = ingest_s(n, "uri");
    const json_t *author = json_object_get(n, "author");
    const char *did = ingest_s(author, "did");
    const json_t *record = json_object_get(n, "record");
    if (!reason || !uri || !did ||
        (strcmp(reason, "mention") != 0 && strcmp(reason, "reply") != 0 &&
         strcmp(reason, "quote") != 0))
        return 0;
    const char *created = ingest_s(record, "createdAt");
    if (!created)
        created = ingest_s(n, "indexedAt");
    if (!created)
        return 0;
    const char *text = ingest_s(record, "text");
    json_t *post =
        ingest_post("bluesky", uri, strcmp(reason, "reply") == 0 ? "reply" : "mention",
                    created, ingest_nfc(text ? text : ""), "poll", source_name);
    json_object_set_new(post, "author",
                        ingest_author(did, ingest_s(author, "handle"),
                                      ingest_s(author, "displayName"),
                                      ingest_i(author, "followersCount", -1), -1));
    const json_t *reply = json_object_get(record, "reply");
    const char *parent = ingest_s(json_object_get(reply, "parent"), "uri");
    const char *root = ingest_s(json_object_get(reply, "root"), "uri");
    if (parent)
        json_object_set_new(post, "in_reply_to", ingest_pid("bluesky", parent));
    if (root)
        json_object_set_new(post, "thread_id", ingest_pid("bluesky", root));
    json_array_append_new(out, post);
    return 1;
}
