/* The spike counter script and its adapters (see incidents.h). */
#include "incidents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS[1] spike:{topic}. ARGV: 1 bucket number now, 2 count, 3 window buckets, 4 factor,
 * 5 min count, 6 alpha, 7 candidate incident id. Same rule as router_spike_detect. */
struct sc_redis_script router_spike_script = {
    .source =
        "local h = KEYS[1]\n"
        "local cur, n = tonumber(ARGV[1]), tonumber(ARGV[3])\n"
        "local alpha = tonumber(ARGV[6])\n"
        "local v = redis.call('HMGET', h, 'last', 'baseline', 'seen', 'incident')\n"
        "local last = tonumber(v[1] or ARGV[1])\n"
        "local base, seen, inc = tonumber(v[2] or '-1'), tonumber(v[3] or '0'), v[4] or "
        "''\n"
        "if cur > last then\n"
        "  for b = math.max(last, cur - 3 * n), cur - 1 do\n"
        "    local cnt = tonumber(redis.call('HGET', h, 'b' .. b) or '0')\n"
        "    if inc == '' then\n"
        "      if base < 0 then base = cnt else base = (1 - alpha) * base + alpha * cnt "
        "end\n"
        "      seen = seen + 1\n"
        "    end\n"
        "  end\n"
        "  for b = math.max(last - n, cur - 4 * n), cur - n do redis.call('HDEL', h, 'b' "
        ".. b) end\n"
        "end\n"
        "if cur >= last then redis.call('HINCRBY', h, 'b' .. cur, tonumber(ARGV[2])) "
        "end\n"
        "local window = 0\n"
        "for b = cur - n + 1, cur do window = window + tonumber(redis.call('HGET', h, "
        "'b' "
        ".. b) or '0') end\n"
        "local opened = 0\n"
        "local expect = math.max(base, 0) * n * tonumber(ARGV[4])\n"
        "if inc == '' and seen >= n and window >= tonumber(ARGV[5]) and window >= expect "
        "then\n"
        "  inc, opened = ARGV[7], 1\n"
        "end\n"
        "redis.call('HSET', h, 'last', math.max(cur, last), 'baseline', base, 'seen', "
        "seen, 'incident', inc)\n"
        "redis.call('PEXPIRE', h, 604800000)\n"
        "return {inc, opened, window, tostring(base)}\n",
};

bool router_spike_detect(long long window, double baseline, int buckets, double factor,
                         long long min_count, bool learned)
{
    double expect = (baseline > 0 ? baseline : 0) * buckets * factor;
    return learned && window >= min_count && (double)window >= expect;
}

void router_spike_add(struct sc_redis_batch *batch, const struct router_rules *rules,
                      const char *topic, long long count, long long now_ms)
{
    char key[300], bucket[32], cnt[32], n[16], factor[32], min[32], alpha[32], id[200];
    snprintf(key, sizeof(key), "spike:{%s}", topic);
    snprintf(bucket, sizeof(bucket), "%lld", now_ms / rules->spike_bucket_ms);
    snprintf(cnt, sizeof(cnt), "%lld", count);
    snprintf(n, sizeof(n), "%d", rules->spike_buckets);
    snprintf(factor, sizeof(factor), "%g", rules->spike_factor);
    snprintf(min, sizeof(min), "%lld", rules->spike_min);
    snprintf(alpha, sizeof(alpha), "%g", rules->spike_alpha);
    snprintf(id, sizeof(id), "inc-%s-%lld", topic, now_ms);
    const char *argv[] = {key, bucket, cnt, n, factor, min, alpha, id};
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    sc_redis_batch_add_eval(batch, &router_spike_script, 1, 8, argv, lens);
}

int router_spike_parse(const redisReply *r, struct spike_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_INTEGER ||
        r->element[3]->type != REDIS_REPLY_STRING ||
        r->element[0]->len >= sizeof(out->incident))
        return SC_EPARSE;
    memcpy(out->incident, r->element[0]->str, r->element[0]->len);
    out->opened = r->element[1]->integer == 1;
    out->window = r->element[2]->integer;
    out->baseline = strtod(r->element[3]->str, NULL);
    return 0;
}
