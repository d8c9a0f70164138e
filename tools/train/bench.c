/* socialcare-classifier-bench: in-process classification throughput on one core (all
 * heads and rules, the service's code path without Kafka and JSON), or one text
 * classified and printed as the service would add it. socialcare-classifier-bench --model
 * M [--rules R] --csv FILE [--column text]
 *                               [--seconds S] [--json]
 *   socialcare-classifier-bench --model M [--rules R] --text "..." */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "classify.h"
#include "dataset.h"

/* CPU time of this thread: "posts per second on one core" even when the machine is
 * shared (wall time is printed too). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: socialcare-classifier-bench --model M [--rules R] "
                 "[--lang L (as if the platform gave it; default: detect)] "
                 "(--csv FILE [--column text] [--seconds S] [--json] | --text TEXT)\n");
}

int main(int argc, char **argv)
{
    const char *model = NULL, *rules = NULL, *csv = NULL, *column = "text", *text = NULL;
    const char *lang = NULL;
    double seconds = 3.0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--rules") && i + 1 < argc)
            rules = argv[++i];
        else if (!strcmp(argv[i], "--csv") && i + 1 < argc)
            csv = argv[++i];
        else if (!strcmp(argv[i], "--column") && i + 1 < argc)
            column = argv[++i];
        else if (!strcmp(argv[i], "--text") && i + 1 < argc)
            text = argv[++i];
        else if (!strcmp(argv[i], "--lang") && i + 1 < argc)
            lang = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            usage(!strcmp(argv[i], "--help") ? stdout : stderr);
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    if (!model || (!csv && !text)) {
        usage(stderr);
        return 2;
    }
    char err[512];
    struct classifier *cl = sc_malloc(sizeof(*cl));
    if (classifier_open(cl, model, rules, err, sizeof(err)) != 0) {
        fprintf(stderr, "socialcare-classifier-bench: %s\n", err);
        sc_free(cl);
        return 2;
    }
    struct classifier_scratch *s = classifier_scratch_new(cl);
    struct classification c;
    struct classifier_author who = {.followers = 1200, .lang = lang};
    int rc = 0;
    if (text) {
        if (classifier_classify(cl, s, text, strlen(text), &who, &c) != 0) {
            fprintf(stderr, "socialcare-classifier-bench: invalid UTF-8\n");
            rc = 2;
        } else {
            json_t *j = classifier_to_json(cl, &c);
            char *d = json_dumps(j, JSON_COMPACT);
            printf("%s\n", d);
            free(d);
            json_decref(j);
        }
    } else {
        size_t n = 0;
        char **texts = dataset_texts(csv, column, &n, err, sizeof(err));
        if (!texts || n == 0) {
            fprintf(stderr, "socialcare-classifier-bench: %s\n", texts ? "no rows" : err);
            rc = 2;
        } else {
            size_t *lens = sc_malloc(n * sizeof(size_t)), bytes = 0;
            for (size_t i = 0; i < n; i++) {
                lens[i] = strlen(texts[i]);
                bytes += lens[i];
            }
            unsigned long long done = 0, intents[CLASSIFIER_INTENT_COUNT] = {0};
            double t0 = cpu_s(), w0 = now_s(), t;
            do {
                for (size_t i = 0; i < n; i++)
                    if (classifier_classify(cl, s, texts[i], lens[i], &who, &c) == 0)
                        intents[c.intent]++;
                done += n;
                t = cpu_s() - t0;
            } while (t < seconds);
            double rate = (double)done / t, wall = now_s() - w0;
            if (json) {
                printf(
                    "{\"posts\":%llu,\"cpu_seconds\":%.3f,\"wall_seconds\":%.3f,"
                    "\"posts_per_cpu_second\":%.0f,\"mean_bytes\":%.1f,\"model\":\"%s\","
                    "\"rules\":%u}\n",
                    done, t, wall, rate, (double)bytes / n, classifier_model_name(cl),
                    cl->rules.n);
            } else {
                printf("%llu posts in %.2f s CPU (%.2f s wall): %.0f posts/s on one core "
                       "(%zu distinct texts, mean %.0f bytes; model %s, %u rules)\n",
                       done, t, wall, rate, n, (double)bytes / n,
                       classifier_model_name(cl), cl->rules.n);
                for (int i = 0; i < CLASSIFIER_INTENT_COUNT; i++)
                    printf("  %-10s %5.1f%%\n", classifier_intent_name(i),
                           100.0 * intents[i] / done);
            }
            sc_free(lens);
        }
        for (size_t i = 0; texts && i < n; i++)
            sc_free(texts[i]);
        sc_free(texts);
    }
    classifier_scratch_free(s);
    classifier_close(cl);
    sc_free(cl);
    return rc;
}
