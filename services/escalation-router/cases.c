/* Lua scripts for cases and the adapters that queue them into pipelined batches. */
#include "cases.h"

#include <stdio.h>
#include <string.h>

/* KEYS[1] case hash, KEYS[2] applied posts. ARGV: post_id, department, priority, intent,
 * wants_ack (0/1), now_ms, retention_ms. Priorities compare as text: "P1" < "P2". */
struct sc_redis_script router_case_apply_script = {
    .source =
        "local prev = redis.call('HGET', KEYS[2], ARGV[1])\n"
        "if prev then return prev end\n"
        "local c = redis.call('HMGET', KEYS[1], 'case_id', 'status', 'priority', "
        "'acked')\n"
        "local case_id, status, prio, acked = c[1], c[2], c[3], c[4]\n"
        "local opened = 0\n"
        "if not case_id or status == 'resolved' then\n"
        "  case_id = 'c-' .. ARGV[1]\n"
        "  opened = 1\n"
        "  prio = ARGV[3]\n"
        "  acked = '0'\n"
        "  redis.call('HSET', KEYS[1], 'case_id', case_id, 'status', 'open', "
        "'opened_at',\n"
        "             ARGV[6], 'department', ARGV[2], 'priority', prio, 'posts', 0,\n"
        "             'acked', '0')\n"
        "  redis.call('HDEL', KEYS[1], 'first_response_at')\n"
        "elseif ARGV[3] < prio then\n"
        "  prio = ARGV[3]\n"
        "  redis.call('HSET', KEYS[1], 'priority', prio, 'department', ARGV[2])\n"
        "end\n"
        "if status == 'waiting_for_customer' then\n"
        "  redis.call('HSET', KEYS[1], 'status', 'open')\n"
        "end\n"
        "local ack = 0\n"
        "if ARGV[5] == '1' and acked ~= '1' then\n"
        "  ack = 1\n"
        "  redis.call('HSET', KEYS[1], 'acked', '1')\n"
        "end\n"
        "redis.call('HINCRBY', KEYS[1], 'posts', 1)\n"
        "redis.call('HSET', KEYS[1], 'updated_at', ARGV[6], 'last_post', ARGV[1],\n"
        "           'last_intent', ARGV[4])\n"
        "local res = case_id .. '|' .. opened .. '|' .. prio .. '|' .. ack .. '|open'\n"
        "redis.call('HSET', KEYS[2], ARGV[1], res)\n"
        "redis.call('PEXPIRE', KEYS[2], ARGV[7])\n"
        "redis.call('PEXPIRE', KEYS[1], ARGV[7])\n"
        "return res\n",
};

/* KEYS[1] case hash. ARGV: case_id, status, now_ms. Returns the first-response time in ms
 * when this delivery is the case's first sent reply, else -1. */
struct sc_redis_script router_case_delivered_script = {
    .source =
        "if redis.call('HGET', KEYS[1], 'case_id') ~= ARGV[1] then return -1 end\n"
        "if ARGV[2] ~= 'sent' then return -1 end\n"
        "redis.call('HSET', KEYS[1], 'status', 'waiting_for_customer')\n"
        "if redis.call('HSETNX', KEYS[1], 'first_response_at', ARGV[3]) == 0 then\n"
        "  return -1 end\n"
        "local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or ARGV[3])\n"
        "return tonumber(ARGV[3]) - opened\n",
};

#define CASE_RETENTION_MS "2592000000" /* 30 days */

int router_case_result_parse(const char *text, size_t len, struct case_result *out)
{
    memset(out, 0, sizeof(*out));
    const char *end = text + len;
    const char *fields[5];
    size_t lens[5];
    const char *p = text;
    for (int i = 0; i < 5; i++) {
        const char *bar = i < 4 ? memchr(p, '|', (size_t)(end - p)) : end;
        if (!bar)
            return SC_EPARSE;
        fields[i] = p;
        lens[i] = (size_t)(bar - p);
        p = bar + 1;
    }
    if (lens[0] == 0 || lens[0] >= sizeof(out->case_id) || lens[1] != 1 || lens[3] != 1 ||
        lens[2] == 0 || lens[2] >= sizeof(out->priority) ||
        lens[4] >= sizeof(out->status))
        return SC_EPARSE;
    memcpy(out->case_id, fields[0], lens[0]);
    out->opened = fields[1][0] == '1';
    memcpy(out->priority, fields[2], lens[2]);
    out->acknowledge = fields[3][0] == '1';
    memcpy(out->status, fields[4], lens[4]);
    return 0;
}

void router_case_apply_add(struct sc_redis_batch *batch, const char *customer,
                           const char *post_id, const char *department,
                           const char *priority, const char *intent, bool wants_ack,
                           long long now_ms)
{
    char k1[600], k2[620], now[32];
    snprintf(k1, sizeof(k1), "case:{%s}", customer);
    snprintf(k2, sizeof(k2), "case:{%s}:posts", customer);
    snprintf(now, sizeof(now), "%lld", now_ms);
    const char *argv[] = {k1,
                          k2,
                          post_id,
                          department,
                          priority,
                          intent,
                          wants_ack ? "1" : "0",
                          now,
                          CASE_RETENTION_MS};
    size_t lens[9];
    for (int i = 0; i < 9; i++)
        lens[i] = strlen(argv[i]);
    sc_redis_batch_add_eval(batch, &router_case_apply_script, 2, 9, argv, lens);
}

void router_case_delivered_add(struct sc_redis_batch *batch, const char *customer,
                               const char *case_id, const char *status, long long now_ms)
{
    char k1[600], now[32];
    snprintf(k1, sizeof(k1), "case:{%s}", customer);
    snprintf(now, sizeof(now), "%lld", now_ms);
    const char *argv[] = {k1, case_id, status, now};
    size_t lens[4];
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    sc_redis_batch_add_eval(batch, &router_case_delivered_script, 1, 4, argv, lens);
}
