/* Mapping of platform payloads to v1 posts (docs/architecture.md): X Account Activity
 * webhooks (v1.1 objects), Meta webhooks (Page feed comments, Messenger, Instagram
 * comments and messages), Mastodon statuses and notifications, X API v2 tweets with their
 * expanded authors, and Bluesky notifications. Each mapper appends new post objects to
 * `out` (a JSON array) and skips what is not a customer's post (the account's own posts,
 * echoes, edits, likes); texts are plain and NFC, the platform payload is not kept.
 * Pure functions: `source_name` goes into post.source.name. */
#ifndef INGESTOR_MAPPING_H
#define INGESTOR_MAPPING_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* @brief X Account Activity delivery: tweet_create_events and direct_message_events
 * (authors from the tweet's user object / the delivery's users map). Events authored by
 * for_user_id (the subscribed account) are skipped. @returns the number appended. */
size_t ingest_map_x_activity(const json_t *payload, json_t *out);

/* @brief Meta delivery (object "page" or "instagram"): feed comments (verb add),
 * Instagram comments, and messaging entries (echoes skipped). @returns posts appended. */
size_t ingest_map_meta(const json_t *payload, json_t *out);

/* @brief One Mastodon status (HTML content to text). kind is "mention" or "reply" (a
 * status replying to something is a "reply" unless kind_hint is given). instance is the
 * server's host, kept in source.instance. @returns 1 when appended. */
size_t ingest_map_mastodon_status(const json_t *status, const char *kind_hint,
                                  const char *source_name, json_t *out);

/* @brief An X API v2 response page: data[] with includes.users[] (followers from
 * public_metrics, verified). own_user_id (may be NULL) is skipped. @returns appended. */
size_t ingest_map_x_v2(const json_t *page, const char *own_user_id,
                       const char *source_name, json_t *out);

/* @brief One Bluesky notification (reasons mention, reply and quote). @returns 1 when
 * appended. */
size_t ingest_map_bluesky(const json_t *notification, const char *source_name,
                          json_t *out);

/* @brief Parses X v1.1 created_at ("Wed Oct 10 20:19:24 +0000 2018") into RFC 3339 in
 * buf (>= 32 bytes). @returns 0 or -1. */
int ingest_x_legacy_time(const char *text, char *buf, size_t size);

#endif
