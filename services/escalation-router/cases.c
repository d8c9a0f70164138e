/* Lua scripts for cases and the adapters that queue them into pipelined batches. Each
 * script touches only the keys of one customer (one hash tag). */
#include "cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS: case hash, applied posts, history. ARGV: 1 post_id, 2 department, 3 priority,
 * 4 intent, 5 complaint (0/1), 6 wanted ack (0/1/2), 7 quiet (0/1), 8 daily cap, 9
 * now_ms, 10 due_ms, 11 reopen window ms, 12 last posts kept, 13 history entry, 14
 * sentiment score, 15 incident id or "", 16 retention ms, 17 day (YYYYMMDD). Priorities
 * compare as text: "P1" < "P2". */
struct sc_redis_script router_case_apply_script = {
    .source =
        "local prev = redis.call('HGET', KEYS[2], ARGV[1])\n"
        "if prev then return prev end\n"
        "local now = tonumber(ARGV[9])\n"
        "local c = redis.call('HMGET', KEYS[1], 'case_id', 'status', 'priority', "
        "'acked', 'thanked', 'ack_day', 'ack_count', 'due', 'pending', 'agent', "
        "'last_agent', 'resolved_at', 'trend', 'incident_acked', 'posts', 'exp_at', "
        "'reopened')\n"
        "local case_id, status, prio, acked, thanked = c[1], c[2], c[3], c[4], c[5]\n"
        "local ack_day, ack_count, due, pending = c[6], tonumber(c[7] or '0'), "
        "tonumber(c[8] or '0'), c[9]\n"
        "local agent, last_agent, resolved_at = c[10] or '', c[11] or '', "
        "tonumber(c[12] or '') or 0\n"
        "local trend, incident_acked = tonumber(c[13] or ARGV[14]), c[14] or ''\n"
        "local posts, exp_at, nreopened = tonumber(c[15] or '0'), tonumber(c[16] or "
        "'0'), "
        "tonumber(c[17] or '0')\n"
        "local opened, reopened, preferred, idx = 0, 0, '', 0\n"
        "local f = {}\n"
        "if case_id and status == 'resolved' and ARGV[5] == '1' and "
        "now - resolved_at <= tonumber(ARGV[11]) then\n"
        "  reopened, opened, idx = 1, 1, 1\n"
        "  status, prio, acked, thanked, pending = 'open', ARGV[3], '0', '0', '0'\n"
        "  nreopened = nreopened + 1\n"
        "  f = {'priority', prio, 'department', ARGV[2], 'reopened_at', ARGV[9], "
        "'reopened', nreopened, 'resolved_at', ''}\n"
        "elseif not case_id or status == 'resolved' then\n"
        "  if case_id then\n"
        "    if agent ~= '' then last_agent = agent end\n"
        "    redis.call('DEL', KEYS[1])\n"
        "  end\n"
        "  case_id = 'c-' .. ARGV[1]\n"
        "  opened, idx = 1, 1\n"
        "  preferred, agent = last_agent, ''\n"
        "  status, prio, acked, thanked, pending, trend = 'new', ARGV[3], '0', '0', '0', "
        "tonumber(ARGV[14])\n"
        "  posts, incident_acked, exp_at = 0, '', 0\n"
        "  f = {'case_id', case_id, 'opened_at', ARGV[9], 'department', ARGV[2], "
        "'priority', prio, 'last_agent', last_agent, 'reopened', 0}\n"
        "else\n"
        "  if ARGV[3] < prio then\n"
        "    prio = ARGV[3]\n"
        "    f = {'priority', prio, 'department', ARGV[2]}\n"
        "    if pending == '1' and tonumber(ARGV[10]) < due then due, idx = "
        "tonumber(ARGV[10]), 1 end\n"
        "  end\n"
        "  if status == 'waiting_for_customer' or status == 'new' then status = 'open' "
        "end\n"
        "end\n"
        "if pending ~= '1' then pending, due, idx = '1', tonumber(ARGV[10]), 1 end\n"
        "local ack, skipped = 0, ''\n"
        "local want = ARGV[6]\n"
        "if want == '1' and ARGV[15] ~= '' then\n"
        "  if incident_acked ~= ARGV[15] then want = '3' else want = '0' end\n"
        "elseif want == '1' and acked == '1' then want = '0'\n"
        "elseif want == '2' and thanked == '1' then want = '0' end\n"
        "if want ~= '0' then\n"
        "  if ack_day ~= ARGV[17] then ack_day, ack_count = ARGV[17], 0 end\n"
        "  if ARGV[7] == '1' then skipped = 'quiet'\n"
        "  elseif ack_count >= tonumber(ARGV[8]) then skipped = 'cap'\n"
        "  else\n"
        "    ack = tonumber(want)\n"
        "    ack_count = ack_count + 1\n"
        "    if want == '2' then thanked = '1' else acked = '1' end\n"
        "    if want == '3' then incident_acked = ARGV[15] end\n"
        "  end\n"
        "end\n"
        "trend = 0.7 * trend + 0.3 * tonumber(ARGV[14])\n"
        "local n = #f\n"
        "local function put(k, v) f[n + 1] = k; f[n + 2] = v; n = n + 2 end\n"
        "put('status', status); put('updated_at', ARGV[9]); put('last_post', ARGV[1])\n"
        "put('last_intent', ARGV[4]); put('due', due); put('pending', pending)\n"
        "put('trend', string.format('%.3f', trend)); put('posts', posts + 1)\n"
        "put('acked', acked); put('thanked', thanked); put('incident_acked', "
        "incident_acked)\n"
        "if ack_day then put('ack_day', ack_day); put('ack_count', ack_count) end\n"
        "if ARGV[15] ~= '' then put('incident', ARGV[15]) end\n"
        "local ttl = tonumber(ARGV[16])\n"
        "local refresh = now > exp_at - ttl / 2\n"
        "if refresh then put('exp_at', now + ttl) end\n"
        "redis.call('HSET', KEYS[1], unpack(f))\n"
        "if redis.call('RPUSH', KEYS[3], ARGV[13]) > 2 * tonumber(ARGV[12]) then\n"
        "  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[12]), -1)\n"
        "end\n"
        "local res = case_id .. '|' .. opened .. '|' .. prio .. '|' .. ack .. '|' .. "
        "status .. '|' .. due .. '|' .. pending .. '|' .. agent .. '|' .. reopened .. "
        "'|' .. skipped .. '|' .. preferred .. '|' .. idx\n"
        "redis.call('HSET', KEYS[2], ARGV[1], res)\n"
        "if refresh then\n"
        "  redis.call('PEXPIRE', KEYS[1], ttl)\n"
        "  redis.call('PEXPIRE', KEYS[2], ttl)\n"
        "  redis.call('PEXPIRE', KEYS[3], ttl)\n"
        "end\n"
        "return res\n",
};

/* KEYS[1] case hash. ARGV: case_id, status, now_ms, auto (0/1). Returns {first_ms,
 * stopped}. */
struct sc_redis_script router_case_delivered_script = {
    .source =
        "if redis.call('HGET', KEYS[1], 'case_id') ~= ARGV[1] then return {-1, 0} end\n"
        "if ARGV[2] ~= 'sent' then return {-1, 0} end\n"
        "local stopped = 0\n"
        "if ARGV[4] == '0' then\n"
        "  if redis.call('HGET', KEYS[1], 'status') ~= 'resolved' then\n"
        "    redis.call('HSET', KEYS[1], 'status', 'waiting_for_customer')\n"
        "  end\n"
        "  redis.call('HSET', KEYS[1], 'pending', '0')\n"
        "  stopped = 1\n"
        "end\n"
        "if redis.call('HSETNX', KEYS[1], 'first_response_at', ARGV[3]) == 0 then\n"
        "  return {-1, stopped} end\n"
        "local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or ARGV[3])\n"
        "return {tonumber(ARGV[3]) - opened, stopped}\n",
};

/* KEYS[1] case hash. ARGV: agent id ("" to unassign), now_ms. Returns the case's status
 * or nil when there is no case. */
struct sc_redis_script router_case_assign_script = {
    .source =
        "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"
        "local st = redis.call('HGET', KEYS[1], 'status')\n"
        "if st == 'new' then st = 'open' end\n"
        "redis.call('HSET', KEYS[1], 'agent', ARGV[1], 'status', st, 'assigned_at', "
        "ARGV[2], 'updated_at', ARGV[2])\n"
        "if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'last_agent', ARGV[1]) "
        "end\n"
        "return st\n",
};

/* KEYS[1] case hash. ARGV: now_ms, case_id ("" = the current case). Returns the case id,
 * or nil when there is no such open case. */
struct sc_redis_script router_case_resolve_script = {
    .source = "local c = redis.call('HMGET', KEYS[1], 'case_id', 'status', 'agent')\n"
              "if not c[1] or c[2] == 'resolved' then return false end\n"
              "if ARGV[2] ~= '' and ARGV[2] ~= c[1] then return false end\n"
              "redis.call('HSET', KEYS[1], 'status', 'resolved', 'resolved_at', ARGV[1], "
              "'updated_at', ARGV[1], 'pending', '0')\n"
              "if c[3] and c[3] ~= '' then redis.call('HSET', KEYS[1], 'last_agent', "
              "c[3]) end\n"
              "return c[1]\n",
};

/* KEYS[1] case hash. ARGV: due_ms seen in sla:pending, now_ms. Marks the breach once per
 * due time; returns {case_id, department, priority, status} or nil when the case is no
 * longer overdue at that due time (answered, resolved, re-timed). */
struct sc_redis_script router_case_breach_script = {
    .source = "local c = redis.call('HMGET', KEYS[1], 'case_id', 'department', "
              "'priority', 'status', 'due', 'pending', 'breached_due')\n"
              "if not c[1] or c[6] ~= '1' or c[4] == 'resolved' then return false end\n"
              "if tonumber(c[5]) ~= tonumber(ARGV[1]) or c[7] == ARGV[1] then return "
              "false end\n"
              "if tonumber(c[5]) > tonumber(ARGV[2]) then return false end\n"
              "redis.call('HSET', KEYS[1], 'breached_due', ARGV[1], 'breached_at', "
              "ARGV[2])\n"
              "redis.call('HINCRBY', KEYS[1], 'breaches', 1)\n"
              "return {c[1], c[2], c[3], c[4]}\n",
};

#define CASE_RETENTION_MS "2592000000" /* 30 days */

int router_case_result_parse(const char *text, size_t len, struct case_result *out)
{
    enum { N = 12 };
    memset(out, 0, sizeof(*out));
    const char *end = text + len;
    const char *f[N];
    size_t l[N];
    const char *p = text;
    for (int i = 0; i < N; i++) {
        const char *bar = i < N - 1 ? memchr(p, '|', (size_t)(end - p)) : end;
        if (!bar)
            return SC_EPARSE;
        f[i] = p;
        l[i] = (size_t)(bar - p);
        p = bar + 1;
    }
    char num[32];
    if (l[0] == 0 || l[0] >= sizeof(out->case_id) || l[1] != 1 || l[3] != 1 ||
        l[2] == 0 || l[2] >= sizeof(out->priority) || l[4] >= sizeof(out->status) ||
        l[5] == 0 || l[5] >= sizeof(num) || l[6] != 1 || l[7] >= sizeof(out->agent) ||
        l[8] != 1 || l[9] >= sizeof(out->skipped) || l[10] >= sizeof(out->preferred) ||
        l[11] != 1 || f[3][0] < '0' || f[3][0] > '3')
        return SC_EPARSE;
    memcpy(out->case_id, f[0], l[0]);
    out->opened = f[1][0] == '1';
    memcpy(out->priority, f[2], l[2]);
    out->ack = (enum case_ack)(f[3][0] - '0');
    memcpy(out->status, f[4], l[4]);
    memcpy(num, f[5], l[5]);
    num[l[5]] = '\0';
    char *e;
    out->due_ms = strtoll(num, &e, 10);
    if (*e)
        return SC_EPARSE;
    out->pending = f[6][0] == '1';
    memcpy(out->agent, f[7], l[7]);
    out->reopened = f[8][0] == '1';
    memcpy(out->skipped, f[9], l[9]);
    memcpy(out->preferred, f[10], l[10]);
    out->reindex = f[11][0] == '1';
    return 0;
}

void router_case_apply_add(struct sc_redis_batch *batch, const struct case_apply *a)
{
    char k1[600], k2[620], k3[620], now[32], due[32], cap[16], window[32], last[16],
        score[32], day[16];
    snprintf(k1, sizeof(k1), "case:{%s}", a->customer);
    snprintf(k2, sizeof(k2), "case:{%s}:posts", a->customer);
    snprintf(k3, sizeof(k3), "case:{%s}:history", a->customer);
    snprintf(now, sizeof(now), "%lld", a->now_ms);
    snprintf(due, sizeof(due), "%lld", a->due_ms);
    snprintf(cap, sizeof(cap), "%d", a->daily_cap);
    snprintf(window, sizeof(window), "%lld", a->reopen_window_ms);
    snprintf(last, sizeof(last), "%d", a->last_posts > 0 ? a->last_posts : 1);
    snprintf(score, sizeof(score), "%.3f", a->score);
    long long days = a->now_ms / 86400000LL; /* UTC day number */
    snprintf(day, sizeof(day), "%lld", days);
    const char wanted[2] = {(char)('0' + (int)a->ack), 0};
    const char *argv[] = {k1,
                          k2,
                          k3,
                          a->post_id,
                          a->department,
                          a->priority,
                          a->intent,
                          a->complaint ? "1" : "0",
                          wanted,
                          a->quiet ? "1" : "0",
                          cap,
                          now,
                          due,
                          window,
                          last,
                          a->history,
                          score,
                          a->incident ? a->incident : "",
                          CASE_RETENTION_MS,
                          day};
    enum { N = sizeof(argv) / sizeof(argv[0]) };
    size_t lens[N];
    for (int i = 0; i < N; i++)
        lens[i] = strlen(argv[i]);
    sc_redis_batch_add_eval(batch, &router_case_apply_script, 3, N, argv, lens);
}

void router_case_delivered_add(struct sc_redis_batch *batch, const char *customer,
                               const char *case_id, const char *status, bool auto_reply,
                               long long now_ms)
{
    char k1[600], now[32];
    snprintf(k1, sizeof(k1), "case:{%s}", customer);
    snprintf(now, sizeof(now), "%lld", now_ms);
    const char *argv[] = {k1, case_id, status, now, auto_reply ? "1" : "0"};
    size_t lens[5];
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    sc_redis_batch_add_eval(batch, &router_case_delivered_script, 1, 5, argv, lens);
}
