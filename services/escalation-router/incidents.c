/* The spike counter script and its adapters (see incidents.h). */
#include "incidents.h"

#include "alloc.h"
#include "phrases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS[1] spike:{topic}. ARGV: 1 bucket number now, 2 count, 3 window buckets, 4 factor,
 * 5 min count, 6 alpha, 7 candidate incident id. Same rule as router_spike_detect.
 * Phrases: 8 history buckets, 9 factor, 10 min count, 11 check step, 12 bucket hash TTL
 * (ms), 13 number of phrases np, 14 number of groups ng, then np pairs (hash in hex,
 * count), then ng groups ("i,j,k": 1-based indexes of the phrases one post carries).
 * The per-bucket phrase counts live in spike:{topic}:p<bucket> hashes (hash -> count;
 * same hash tag); a phrase's open incident is the field p<hash> of spike:{topic}. A
 * phrase's window is summed only when its bucket count passes a check point
 * (router_phrase_check_due), and it opens (router_phrase_spike) only while the topic
 * itself has no incident; the phrases that share a post with the opening phrase in this
 * call join its incident (one root cause, one incident). While a phrase incident is open
 * (field pincident, the latest one), the topic opens none of its own: the phrase's
 * incident already tells the department. */
struct sc_redis_script router_spike_script = {
    .source =
        "local h = KEYS[1]\n"
        "local cur, n = tonumber(ARGV[1]), tonumber(ARGV[3])\n"
        "local alpha = tonumber(ARGV[6])\n"
        "local v = redis.call('HMGET', h, 'last', 'baseline', 'seen', 'incident', "
        "'pincident')\n"
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
        "if inc == '' and not v[5] and seen >= n and window >= tonumber(ARGV[5]) and "
        "window >= expect then\n"
        "  inc, opened = ARGV[7], 1\n"
        "end\n"
        "redis.call('HSET', h, 'last', math.max(cur, last), 'baseline', base, 'seen', "
        "seen, 'incident', inc)\n"
        "redis.call('PEXPIRE', h, 604800000)\n"
        "local out = {inc, opened, window, tostring(base)}\n"
        "local np, ng = tonumber(ARGV[13]), tonumber(ARGV[14])\n"
        "if np == 0 then return out end\n"
        "local H, pf, pmin, step = tonumber(ARGV[8]), tonumber(ARGV[9]), "
        "tonumber(ARGV[10]), tonumber(ARGV[11])\n"
        "local bk = h .. ':p' .. cur\n"
        "local fields = {}\n"
        "for i = 1, np do fields[i] = 'p' .. ARGV[13 + 2 * i] end\n"
        "local incs = redis.call('HMGET', h, unpack(fields))\n"
        "local hn = math.min(H, seen - n)\n"
        "local pop, pwin, pbase = {}, {}, {}\n"
        "for i = 1, np do\n"
        "  local hex, c = ARGV[13 + 2 * i], tonumber(ARGV[14 + 2 * i])\n"
        "  local after = redis.call('HINCRBY', bk, hex, c)\n"
        "  local due, mark = false, step\n"
        "  while mark <= after do\n"
        "    if mark > after - c then due = true break end\n"
        "    mark = mark * 2\n"
        "  end\n"
        "  if not incs[i] and inc == '' and hn > 0 and due then\n"
        "    local w, hist = 0, 0\n"
        "    for b = cur - n + 1, cur do w = w + tonumber(redis.call('HGET', h .. ':p' "
        ".. "
        "b, hex) or '0') end\n"
        "    for b = cur - n - hn + 1, cur - n do hist = hist + "
        "tonumber(redis.call('HGET', h .. ':p' .. b, hex) or '0') end\n"
        "    pwin[i], pbase[i] = w, hist / hn\n"
        "    if w >= pmin and w >= hist / hn * n * pf then\n"
        "      local id = ARGV[7] .. '-' .. string.sub(hex, 1, 8)\n"
        "      incs[i], pop[i] = id, 1\n"
        "      redis.call('HSET', h, 'p' .. hex, id, 'pincident', id)\n"
        "      for g = 1, ng do\n"
        "        local grp = ARGV[14 + 2 * np + g]\n"
        "        if string.find(',' .. grp .. ',', ',' .. i .. ',', 1, true) then\n"
        "          for j in string.gmatch(grp, '%d+') do\n"
        "            j = tonumber(j)\n"
        "            if j >= 1 and j <= np and not incs[j] then\n"
        "              incs[j] = id\n"
        "              redis.call('HSET', h, 'p' .. ARGV[13 + 2 * j], id)\n"
        "            end\n"
        "          end\n"
        "        end\n"
        "      end\n"
        "    end\n"
        "  end\n"
        "end\n"
        "redis.call('PEXPIRE', bk, tonumber(ARGV[12]))\n"
        "for i = 1, np do\n"
        "  if incs[i] then\n"
        "    out[#out + 1] = i\n"
        "    out[#out + 1] = incs[i]\n"
        "    out[#out + 1] = pop[i] or 0\n"
        "    out[#out + 1] = pwin[i] or 0\n"
        "    out[#out + 1] = tostring(pbase[i] or 0)\n"
        "  end\n"
        "end\n"
        "return out\n",
};

bool router_spike_detect(long long window, double baseline, int buckets, double factor,
                         long long min_count, bool learned)
{
    double expect = (baseline > 0 ? baseline : 0) * buckets * factor;
    return learned && window >= min_count && (double)window >= expect;
}

void router_spike_add(struct sc_redis_batch *batch, const struct router_rules *rules,
                      const char *topic, long long count, long long now_ms,
                      const struct spike_phrases *ph)
{
    enum { FIXED = 15 }; /* the key and ARGV[1..14] */
    char key[300], bucket[32], cnt[32], n[16], factor[32], min[32], alpha[32], id[200];
    char hist[16], pfactor[32], pmin[32], step[32], ttl[32], np[16], ng[16];
    size_t n_phr = ph ? ph->n : 0, n_grp = ph ? ph->n_groups : 0;
    snprintf(key, sizeof(key), "spike:{%s}", topic);
    snprintf(bucket, sizeof(bucket), "%lld", now_ms / rules->spike_bucket_ms);
    snprintf(cnt, sizeof(cnt), "%lld", count);
    snprintf(n, sizeof(n), "%d", rules->spike_buckets);
    snprintf(factor, sizeof(factor), "%g", rules->spike_factor);
    snprintf(min, sizeof(min), "%lld", rules->spike_min);
    snprintf(alpha, sizeof(alpha), "%g", rules->spike_alpha);
    snprintf(id, sizeof(id), "inc-%s-%lld", topic, now_ms);
    snprintf(hist, sizeof(hist), "%d", rules->phrase_history);
    snprintf(pfactor, sizeof(pfactor), "%g", rules->phrase_factor);
    snprintf(pmin, sizeof(pmin), "%lld", rules->phrase_min);
    snprintf(step, sizeof(step), "%lld",
             router_phrase_step(rules->phrase_min, rules->spike_buckets));
    snprintf(ttl, sizeof(ttl), "%lld",
             (long long)rules->spike_bucket_ms *
                 (rules->spike_buckets + rules->phrase_history + 2));
    snprintf(np, sizeof(np), "%zu", n_phr);
    snprintf(ng, sizeof(ng), "%zu", n_grp);
    size_t argc = FIXED + 2 * n_phr + n_grp;
    const char *stack_argv[FIXED];
    size_t stack_lens[FIXED];
    const char **argv = argc > FIXED ? sc_malloc(argc * sizeof(*argv)) : stack_argv;
    size_t *lens = argc > FIXED ? sc_malloc(argc * sizeof(*lens)) : stack_lens;
    char(*num)[2][24] = n_phr ? sc_malloc(n_phr * sizeof(*num)) : NULL;
    const char *fixed[FIXED] = {key,  bucket,  cnt,  n,    factor, min, alpha, id,
                                hist, pfactor, pmin, step, ttl,    np,  ng};
    memcpy(argv, fixed, sizeof(fixed));
    size_t k = FIXED;
    for (size_t i = 0; i < n_phr; i++) {
        snprintf(num[i][0], sizeof(num[i][0]), "%016llx",
                 (unsigned long long)ph->hash[i]);
        snprintf(num[i][1], sizeof(num[i][1]), "%lld", ph->count[i]);
        argv[k++] = num[i][0];
        argv[k++] = num[i][1];
    }
    for (size_t g = 0; g < n_grp; g++)
        argv[k++] = ph->groups[g];
    for (size_t i = 0; i < k; i++)
        lens[i] = strlen(argv[i]);
    sc_redis_batch_add_eval(batch, &router_spike_script, 1, (int)k, argv, lens);
    if (argv != stack_argv) {
        sc_free(argv);
        sc_free(lens);
    }
    sc_free(num);
}

int router_spike_parse(const redisReply *r, struct spike_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 4 || (r->elements - 4) % 5 ||
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

int router_spike_parse_phrases(const redisReply *r, struct spike_result *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        memset(&out[i], 0, sizeof(out[i]));
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 4 || (r->elements - 4) % 5)
        return SC_EPARSE;
    for (size_t e = 4; e + 5 <= r->elements; e += 5) {
        redisReply **v = &r->element[e];
        if (v[0]->type != REDIS_REPLY_INTEGER || v[0]->integer < 1 ||
            (size_t)v[0]->integer > n || v[1]->type != REDIS_REPLY_STRING ||
            v[1]->len >= sizeof(out->incident) || v[2]->type != REDIS_REPLY_INTEGER ||
            v[3]->type != REDIS_REPLY_INTEGER || v[4]->type != REDIS_REPLY_STRING)
            return SC_EPARSE;
        struct spike_result *o = &out[v[0]->integer - 1];
        memcpy(o->incident, v[1]->str, v[1]->len);
        o->incident[v[1]->len] = '\0';
        o->opened = v[2]->integer == 1;
        o->window = v[3]->integer;
        o->baseline = strtod(v[4]->str, NULL);
    }
    return 0;
}
