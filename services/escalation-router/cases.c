/* Lua scripts for cases and the adapters that queue them into pipelined batches. Each
 * script touches only the keys of one customer (one hash tag). */
#include "cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* One batch chunk of posts, applied in order in one call (the per-call cost of EVALSHA
 * in Redis is ~10 us, as much as applying a post). KEYS: per post its case hash, applied
 * posts and history (3 keys per post). ARGV: 1 daily cap, 2 now_ms, 3 reopen window ms,
 * 4 last posts kept, 5 retention ms, 6 day (UTC day number), then per post 11 arguments:
 * post_id, department, priority, intent, complaint (0/1), wanted ack (0/1/2), quiet
 * (0/1), due_ms, history entry, sentiment score, incident id or "". Returns one result
 * text per post (see case_result). The function `apply` sees the arguments of one post
 * in the layout of the former one-post script: ARGV 1 post_id, 2 department, 3 priority,
 * 4 intent, 5 complaint, 6 wanted ack, 7 quiet, 8 daily cap, 9 now_ms, 10 due_ms, 11
 * reopen window, 12 last posts, 13 history entry, 14 score, 15 incident, 16 retention
 * ms, 17 day. Priorities compare as text: "P1" < "P2". On Redis Cluster every key of a
 * call must hash to one slot: the chunk would have to be grouped by the customers' hash
 * slots (sc_redis talks to a single node, so the router does not group). */
struct sc_redis_script router_case_apply_script = {
    .source =
        "local function apply(KEYS, ARGV)\n"
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
        /* a new case writes every field; otherwise only what changed (each field
         * written is a search through the case's listpack) */
        "local fresh = opened == 1 and reopened == 0\n"
        "local function upd(k, v, old) if fresh or v ~= old then put(k, v) end end\n"
        "upd('status', status, c[2]); put('updated_at', ARGV[9]); put('last_post', "
        "ARGV[1])\n"
        "put('last_intent', ARGV[4])\n"
        "if fresh or due ~= tonumber(c[8] or '') then put('due', due) end\n"
        "upd('pending', pending, c[9])\n"
        "put('trend', string.format('%.3f', trend)); put('posts', posts + 1)\n"
        "upd('acked', acked, c[4]); upd('thanked', thanked, c[5])\n"
        "upd('incident_acked', incident_acked, c[14])\n"
        "if ack_day then\n"
        "  upd('ack_day', ack_day, c[6])\n"
        "  if fresh or ack_count ~= tonumber(c[7] or '') then put('ack_count', "
        "ack_count) "
        "end\n"
        "end\n"
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
        "return res\n"
        "end\n"
        "local c, out = ARGV, {}\n"
        "for i = 0, #KEYS / 3 - 1 do\n"
        "  local b, k = 6 + i * 11, 3 * i\n"
        "  out[i + 1] = apply({KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]}, {ARGV[b + 1], "
        "ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], "
        "c[1], c[2], ARGV[b + 8], c[3], c[4], ARGV[b + 9], ARGV[b + 10], ARGV[b + 11], "
        "c[5], c[6]})\n"
        "end\n"
        "return out\n",
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

/* Appends a copy of text to the chunk's buffer, recording offset and length. */
static void chunk_put(struct case_chunk *c, size_t *off, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (c->used + n + 1 > c->cap) {
        c->cap = (c->used + n + 1) * 2;
        c->buf = sc_realloc(c->buf, c->cap);
    }
    memcpy(c->buf + c->used, text, n + 1);
    *off = c->used;
    *len = n;
    c->used += n + 1;
}

void case_chunk_free(struct case_chunk *c)
{
    sc_free(c->buf);
    sc_free(c->off);
    sc_free(c->len);
    sc_free(c->argv);
    sc_free(c->lens);
    memset(c, 0, sizeof(*c));
}

void case_chunk_add(struct case_chunk *c, const struct case_apply *a)
{
    if (c->n == 0) {
        c->used = 0;
        snprintf(c->common[0], sizeof(c->common[0]), "%d", a->daily_cap);
        snprintf(c->common[1], sizeof(c->common[1]), "%lld", a->now_ms);
        snprintf(c->common[2], sizeof(c->common[2]), "%lld", a->reopen_window_ms);
        snprintf(c->common[3], sizeof(c->common[3]), "%d",
                 a->last_posts > 0 ? a->last_posts : 1);
        snprintf(c->common[4], sizeof(c->common[4]), "%s", CASE_RETENTION_MS);
        snprintf(c->common[5], sizeof(c->common[5]), "%lld", a->now_ms / 86400000LL);
    }
    if ((c->n + 1) * CASE_CHUNK_FIELDS > c->fcap) {
        c->fcap = (c->n + 1) * CASE_CHUNK_FIELDS * 2;
        c->off = sc_realloc(c->off, c->fcap * sizeof(*c->off));
        c->len = sc_realloc(c->len, c->fcap * sizeof(*c->len));
    }
    size_t f = c->n * CASE_CHUNK_FIELDS;
    char key[620], due[32], score[32];
    snprintf(key, sizeof(key), "case:{%s}", a->customer);
    chunk_put(c, &c->off[f], &c->len[f], key);
    snprintf(key, sizeof(key), "case:{%s}:posts", a->customer);
    chunk_put(c, &c->off[f + 1], &c->len[f + 1], key);
    snprintf(key, sizeof(key), "case:{%s}:history", a->customer);
    chunk_put(c, &c->off[f + 2], &c->len[f + 2], key);
    snprintf(due, sizeof(due), "%lld", a->due_ms);
    snprintf(score, sizeof(score), "%.3f", a->score);
    const char wanted[2] = {(char)('0' + (int)a->ack), 0};
    const char *args[CASE_CHUNK_FIELDS - 3] = {a->post_id,
                                               a->department,
                                               a->priority,
                                               a->intent,
                                               a->complaint ? "1" : "0",
                                               wanted,
                                               a->quiet ? "1" : "0",
                                               due,
                                               a->history,
                                               score,
                                               a->incident ? a->incident : ""};
    for (size_t i = 0; i < CASE_CHUNK_FIELDS - 3; i++)
        chunk_put(c, &c->off[f + 3 + i], &c->len[f + 3 + i], args[i]);
    c->n++;
}

size_t case_chunk_flush(struct case_chunk *c, struct sc_redis_batch *batch)
{
    size_t n = c->n;
    if (n == 0)
        return 0;
    size_t argc = n * CASE_CHUNK_FIELDS + 6;
    if (argc > c->vcap) {
        c->vcap = argc * 2;
        c->argv = sc_realloc(c->argv, c->vcap * sizeof(*c->argv));
        c->lens = sc_realloc(c->lens, c->vcap * sizeof(*c->lens));
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) /* keys first */
        for (size_t j = 0; j < 3; j++, k++) {
            c->argv[k] = c->buf + c->off[i * CASE_CHUNK_FIELDS + j];
            c->lens[k] = c->len[i * CASE_CHUNK_FIELDS + j];
        }
    for (size_t j = 0; j < 6; j++, k++) {
        c->argv[k] = c->common[j];
        c->lens[k] = strlen(c->common[j]);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 3; j < CASE_CHUNK_FIELDS; j++, k++) {
            c->argv[k] = c->buf + c->off[i * CASE_CHUNK_FIELDS + j];
            c->lens[k] = c->len[i * CASE_CHUNK_FIELDS + j];
        }
    sc_redis_batch_add_eval(batch, &router_case_apply_script, (int)(n * 3), (int)argc,
                            c->argv, c->lens);
    c->n = 0;
    return n;
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
