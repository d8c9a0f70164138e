/* socialcare-classifier: consumes posts.inbound, adds a classification to each post and
 * publishes it to posts.classified under the same customer key. Stateless; scales by
 * adding members to its consumer group. Invalid posts go to the dead-letter topic with
 * the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "classify.h"
#include "event.h"
#include "lifecycle.h"
#include "log.h"
#include "service.h"

struct classifier_config {
    struct sc_common_config common; /* first: see sc_config_load */
};

static const struct sc_config_item classifier_items[] = {
    SC_CONFIG_COMMON_ITEMS(struct classifier_config, "socialcare-classifier"),
};
#define N_ITEMS (sizeof(classifier_items) / sizeof(classifier_items[0]))

struct classifier {
    struct sc_service svc;
    struct classifier_config conf;
    struct sc_metric *m_posts; /* socialcare_classifier_posts_total{intent} */
};

/* Classifies one message; dead-letters what cannot be parsed. */
static int classifier_handle(struct classifier *cl, const rd_kafka_message_t *msg,
                             struct sc_delivery *delivery)
{
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
    json_int_t followers = json_integer_value(json_object_get(author, "followers"));
    bool verified = json_is_true(json_object_get(author, "verified"));

    struct classification c;
    classifier_classify(text, strlen(text), followers, verified, &c);
    json_object_set_new(post, "classification", classifier_to_json(&c));
    sc_metric_inc(cl->m_posts, SC_LABELS(classifier_intent_name(c.intent)));

    char key[512];
    int klen = sc_event_customer_key(post, key, sizeof(key));
    size_t len;
    char *out = sc_event_dump(post, &len);
    json_decref(post);
    int rc = sc_producer_send(cl->svc.producer, common->topic_posts_classified, key,
                              klen > 0 ? (size_t)klen : 0, out, len, NULL, delivery);
    free(out);
    return rc;
}

static int classifier_batch(void *opaque, rd_kafka_message_t **msgs, size_t n,
                            struct sc_delivery *delivery)
{
    struct classifier *cl = opaque;
    for (size_t i = 0; i < n; i++) {
        int rc = classifier_handle(cl, msgs[i], delivery);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct classifier cl;
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
    sc_config_cleanup(classifier_items, N_ITEMS, &cl.conf, 1);
    return exit_code;
}
