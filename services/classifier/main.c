/* socialcare-classifier: consumes posts.inbound, adds a classification to each post and
 * publishes it to posts.classified under the same customer key. Stateless; scales by
 * adding members to its consumer group. Invalid posts go to the dead-letter topic with
 * the reason. The model (CLASSIFIER_MODEL) and rules (CLASSIFIER_RULES) are loaded once
 * at start; a file failing its checks stops start-up with the reason. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "classify.h"
#include "event.h"
#include "postscan.h"
#include "lifecycle.h"
#include "log.h"
#include "service.h"

struct classifier_config {
    struct sc_common_config common; /* first: see sc_config_load */
    char *model;
    char *rules;
};

static const struct sc_config_item classifier_items[] = {
    SC_CONFIG_COMMON_ITEMS(struct classifier_config, "socialcare-classifier"),
    {"CLASSIFIER_MODEL", SC_CFG_STRING, "models/airline.scm", 0, -1,
     "Model file (socialcare-train output); a relative path is tried from the working "
     "directory, then beside the binary's install (.., ../.., ../share/socialcare)",
     offsetof(struct classifier_config, model)},
    {"CLASSIFIER_RULES", SC_CFG_STRING, "config/classifier-rules.conf", 0, -1,
     "Rules file (crisis, spam, bug, department, personal-data patterns); empty = no "
     "rules; relative paths resolve like CLASSIFIER_MODEL",
     offsetof(struct classifier_config, rules)},
};
#define N_ITEMS (sizeof(classifier_items) / sizeof(classifier_items[0]))

struct classifier_svc {
    struct sc_service svc;
    struct classifier_config conf;
    struct classifier cl;
    struct classifier_scratch *scratch;
    struct sc_metric *m_posts; /* socialcare_classifier_posts_total{intent} */
    char *strbuf;              /* decoded strings of the post being read (fast path) */
    char *out;                 /* the classified post being written (fast path) */
    size_t out_cap;
};

/* Room for the fast path's buffers: a post of the maximum size plus its classification
 * (the classification text is bounded by the model's and rules' names). */
#define OUT_CAP (2 * 65536)

/* Resolves a relative resource path: the working directory first, then the directories
 * around the executable (build/bin -> the source tree; bin -> ../share/socialcare). */
static const char *resolve_path(const char *path, char *buf, size_t size)
{
    if (!path || !*path || path[0] == '/' || access(path, R_OK) == 0)
        return path;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return path;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return path;
    *slash = '\0';
    static const char *const prefixes[] = {"", "/..", "/../..", "/../share/socialcare"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        snprintf(buf, size, "%s%s/%s", exe, prefixes[i], path);
        if (access(buf, R_OK) == 0)
            return buf;
    }
    return path;
}

/* The fast path: a post read by cls_post_scan is classified and written out as its
 * original bytes with ,"classification":{...} spliced in before the final '}' (no
 * jansson tree, no allocation). @returns 1 when it did not apply (the caller takes the
 * full path), else the send's result. */
static int classifier_fast(struct classifier_svc *cl, const rd_kafka_message_t *msg,
                           struct sc_delivery *delivery)
{
    const struct sc_common_config *common = &cl->conf.common;
    const char *payload = msg->payload;
    struct cls_post p;
    if (msg->len > sc_event_default_limits.max_bytes || !payload ||
        !sc_utf8_valid(payload, msg->len) ||
        !cls_post_scan(payload, msg->len, cl->strbuf, &p))
        return 1;
    char lang[64];
    int lang_ok = p.lang && p.lang_len > 0 && p.lang_len < sizeof(lang);
    if (p.lang && p.lang_len >= sizeof(lang))
        return 1; /* an unusually long language tag: the full path copes */
    if (lang_ok) {
        memcpy(lang, p.lang, p.lang_len);
        lang[p.lang_len] = '\0';
        if (memchr(lang, '\0', p.lang_len))
            return 1;
    }
    struct classifier_author who = {.followers = p.followers,
                                    .verified = p.verified,
                                    .likes = p.likes,
                                    .reposts = p.reposts,
                                    .replies = p.replies,
                                    .lang = lang_ok ? lang : NULL};
    struct classification c;
    if (classifier_classify(&cl->cl, cl->scratch, p.text, p.text_len, &who, &c) != 0)
        return sc_producer_dead_letter(cl->svc.producer, common->topic_dlq, "classifier",
                                       "invalid_utf8: text", msg, msg->payload, msg->len,
                                       delivery);
    /* the classification goes to the end of the output buffer, then is spliced in */
    size_t max = sc_event_default_limits.max_bytes, jl;
    char *js = cl->out + max;
    jl = classifier_json_write(&cl->cl, &c, js, cl->out_cap - max);
    size_t len =
        jl < cl->out_cap - max ? cls_post_splice(payload, &p, js, jl, cl->out, max) : 0;
    if (len == 0)
        return 1; /* would not fit an event: the full path re-serialises compactly */
    sc_metric_inc(cl->m_posts, SC_LABELS(classifier_intent_name(c.intent)));
    char key[512];
    size_t klen = p.platform_len + 1 + p.author_id_len;
    if (p.author_id_len > 0 && klen < sizeof(key)) {
        memcpy(key, p.platform, p.platform_len);
        key[p.platform_len] = ':';
        memcpy(key + p.platform_len + 1, p.author_id, p.author_id_len);
    } else {
        klen = 0; /* as sc_event_customer_key: no author id, or too long for a key */
    }
    return sc_producer_send(cl->svc.producer, common->topic_posts_classified, key, klen,
                            cl->out, len, NULL, delivery);
}

/* Classifies one message; dead-letters what cannot be parsed. */
static int classifier_handle(struct classifier_svc *cl, const rd_kafka_message_t *msg,
                             struct sc_delivery *delivery)
{
    int rc = classifier_fast(cl, msg, delivery);
    if (rc != 1)
        return rc;
    /* the full path: parse and validate into a tree, add, re-serialise */
    const struct sc_common_config *common = &cl->conf.common;
    char reason[256];
    json_t *post = sc_event_parse(msg->payload, msg->len, SC_EVENT_POST, NULL, reason,
                                  sizeof(reason));
    if (!post) {
        return sc_producer_dead_letter(cl->svc.producer, common->topic_dlq, "classifier",
                                       reason, msg, msg->payload, msg->len, delivery);
    }
    const char *text = sc_event_str(post, "text");
    json_t *author = json_object_get(post, "author");
    json_t *eng = json_object_get(post, "engagement");
    struct classifier_author who = {
        .followers = json_integer_value(json_object_get(author, "followers")),
        .verified = json_is_true(json_object_get(author, "verified")),
        .likes = json_integer_value(json_object_get(eng, "likes")),
        .reposts = json_integer_value(json_object_get(eng, "reposts")),
        .replies = json_integer_value(json_object_get(eng, "replies")),
        .lang = sc_event_str(post, "lang")};

    struct classification c;
    if (classifier_classify(&cl->cl, cl->scratch, text, strlen(text), &who, &c) != 0) {
        json_decref(post);
        return sc_producer_dead_letter(cl->svc.producer, common->topic_dlq, "classifier",
                                       "invalid_utf8: text", msg, msg->payload, msg->len,
                                       delivery);
    }
    json_object_set_new(post, "classification", classifier_to_json(&cl->cl, &c));
    sc_metric_inc(cl->m_posts, SC_LABELS(classifier_intent_name(c.intent)));

    char key[512];
    int klen = sc_event_customer_key(post, key, sizeof(key));
    size_t len;
    char *out = sc_event_dump(post, &len);
    json_decref(post);
    rc = sc_producer_send(cl->svc.producer, common->topic_posts_classified, key,
                          klen > 0 ? (size_t)klen : 0, out, len, NULL, delivery);
    free(out);
    return rc;
}

static int classifier_batch(void *opaque, rd_kafka_message_t **msgs, size_t n,
                            struct sc_delivery *delivery)
{
    struct classifier_svc *cl = opaque;
    for (size_t i = 0; i < n; i++) {
        int rc = classifier_handle(cl, msgs[i], delivery);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct classifier_svc cl;
    int rc =
        sc_service_configure(argc, argv, "classifier",
                             "Classifies posts: sentiment, intent, topic, personal data, "
                             "influence.",
                             classifier_items, N_ITEMS, &cl.conf);
    if (rc != 0) {
        sc_config_cleanup(classifier_items, N_ITEMS, &cl.conf, 1);
        return rc > 0 ? 0 : 2;
    }

    char errstr[512];
    const char *topics[] = {cl.conf.common.topic_posts_inbound};
    const char *outputs[] = {cl.conf.common.topic_posts_classified,
                             cl.conf.common.topic_dlq};
    struct sc_service_opts opts = {.name = "classifier",
                                   .topics = topics,
                                   .n_topics = 1,
                                   .outputs = outputs,
                                   .n_outputs = 2};
    int exit_code = 1;
    char model_buf[PATH_MAX + 64], rules_buf[PATH_MAX + 64];
    const char *model_path = resolve_path(cl.conf.model, model_buf, sizeof(model_buf));
    const char *rules_path = resolve_path(cl.conf.rules, rules_buf, sizeof(rules_buf));
    if (classifier_open(&cl.cl, model_path, rules_path, errstr, sizeof(errstr)) != 0) {
        sc_log(SC_LOG_CRIT, "MAIN", "start-up failed: %s", errstr);
        sc_config_cleanup(classifier_items, N_ITEMS, &cl.conf, 1);
        return 2;
    }
    cl.scratch = classifier_scratch_new(&cl.cl);
    cl.strbuf = sc_malloc(sc_event_default_limits.max_bytes + 16);
    cl.out_cap = OUT_CAP;
    cl.out = sc_malloc(cl.out_cap);
    sc_log(SC_LOG_INFO, "MODEL", "model %s loaded (%u heads, %u rules)",
           classifier_model_name(&cl.cl), cl.cl.model.n_heads, cl.cl.rules.n);
    if (sc_service_init(&cl.svc, &opts, &cl.conf.common, errstr, sizeof(errstr)) != 0) {
        sc_log(SC_LOG_CRIT, "MAIN", "start-up failed: %s", errstr);
        goto out;
    }
    cl.m_posts = sc_metrics_counter(cl.svc.metrics, "socialcare_classifier_posts_total",
                                    "Posts classified, by intent", "intent");
    if (sc_service_start(&cl.svc, errstr, sizeof(errstr)) != 0) {
        sc_log(SC_LOG_CRIT, "MAIN", "start-up failed: %s", errstr);
        goto out;
    }
    exit_code = sc_service_run(&cl.svc, classifier_batch, NULL, &cl) == 0 ? 0 : 1;
    sc_log(SC_LOG_INFO, "MAIN", "stopped");
out:
    sc_service_cleanup(&cl.svc);
    classifier_scratch_free(cl.scratch);
    sc_free(cl.strbuf);
    sc_free(cl.out);
    classifier_close(&cl.cl);
    sc_config_cleanup(classifier_items, N_ITEMS, &cl.conf, 1);
    return exit_code;
}
