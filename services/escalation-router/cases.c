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
 * 4 last posts kept, 5 retention ms, 6 day (UTC day number), then per post 11 arguments
 * (b = 6 + 11 * its index): b+1 post_id, b+2 department, b+3 priority, b+4 intent, b+5
 * complaint (0/1), b+6 wanted ack (0/1/2), b+7 quiet (0/1), b+8 due_ms, b+9 history
 * entry, b+10 sentiment score, b+11 incident id or "". Returns one result text per post
 * (see case_result). Priorities compare as text: "P1" < "P2".
 *
 * Per post it costs four commands on the common path: HMGET of the case fields it
 * decides on, HSETNX of the result into the applied posts (0: the post was applied
 * before, its stored result is returned and nothing is written), HSET of the changed
 * case fields, RPUSH of the history entry; plus the resolved case's three other fields
 * (HMGET) when there is one, the DEL of a resolved case a new case replaces, and the
 * three PEXPIREs when the keys' expiry is refreshed (new keys, then every 15 days).
 * Numbers stay text where they are only compared or passed on (Lua formats a number with
 * sprintf). On Redis Cluster every key of a call must hash to one slot: the chunk would
 * have to be grouped by the customers' hash slots (sc_redis talks to a single node, so
 * the router does not group). */
struct sc_redis_script router_case_apply_script = {
    .source =
        "local cap, nowt, now = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[2])\n"
        "local window, keep, ttl, day = tonumber(ARGV[3]), tonumber(ARGV[4]), "
        "tonumber(ARGV[5]), ARGV[6]\n"
        "local f, n = {}, 0\n"
        "local function put(k, v) f[n + 1] = k; f[n + 2] = v; n = n + 2 end\n"
        "local function apply(kc, kp, kh, b)\n"
        "local pid, aprio, score, inc = ARGV[b + 1], ARGV[b + 3], ARGV[b + 10], ARGV[b + "
        "11]\n"
        "local c = redis.call('HMGET', kc, 'case_id', 'status', 'priority', 'acked', "
        "'thanked', 'ack_day', 'ack_count', 'due', 'pending', 'agent', 'trend', "
        "'incident_acked', 'posts', 'exp_at')\n"
        "local case_id, status, prio, acked, thanked = c[1], c[2], c[3], c[4], c[5]\n"
        "local ack_day, due, pending, agent = c[6], c[8] or '0', c[9], c[10] or ''\n"
        "local incident_acked, posts, exp_at = c[12] or '', c[13], tonumber(c[14] or "
        "'0')\n"
        "local trend = c[11] or score\n"
        "local opened, reopened, preferred, idx, wipe = '0', '0', '', '0', false\n"
        "n = 0\n"
        "local r = nil\n"
        "if case_id and status == 'resolved' then\n"
        "  r = redis.call('HMGET', kc, 'last_agent', 'resolved_at', 'reopened')\n"
        "end\n"
        "if r and ARGV[b + 5] == '1' and now - (tonumber(r[2] or '') or 0) <= window "
        "then\n"
        "  reopened, opened, idx = '1', '1', '1'\n"
        "  status, prio, acked, thanked, pending = 'open', aprio, '0', '0', '0'\n"
        "  put('priority', prio); put('department', ARGV[b + 2]); put('reopened_at', "
        "nowt)\n"
        "  put('reopened', tonumber(r[3] or '0') + 1); put('resolved_at', '')\n"
        "elseif not case_id or status == 'resolved' then\n"
        "  local last_agent = r and r[1] or ''\n"
        "  if case_id then\n"
        "    if agent ~= '' then last_agent = agent end\n"
        "    wipe = true\n"
        "  end\n"
        "  case_id = 'c-' .. pid\n"
        "  opened, idx = '1', '1'\n"
        "  preferred, agent = last_agent, ''\n"
        "  status, prio, acked, thanked, pending, trend = 'new', aprio, '0', '0', '0', "
        "score\n"
        "  posts, incident_acked, exp_at = nil, '', 0\n"
        "  put('case_id', case_id); put('opened_at', nowt); put('department', ARGV[b + "
        "2])\n"
        "  put('priority', prio); put('last_agent', last_agent); put('reopened', 0)\n"
        "else\n"
        "  if aprio < prio then\n"
        "    prio = aprio\n"
        "    put('priority', prio); put('department', ARGV[b + 2])\n"
        "    if pending == '1' and tonumber(ARGV[b + 8]) < tonumber(due) then\n"
        "      due, idx = ARGV[b + 8], '1'\n"
        "    end\n"
        "  end\n"
        "  if status == 'waiting_for_customer' or status == 'new' then status = 'open' "
        "end\n"
        "end\n"
        "if pending ~= '1' then pending, due, idx = '1', ARGV[b + 8], '1' end\n"
        "local ack, skipped, ack_count = '0', '', nil\n"
        "local want = ARGV[b + 6]\n"
        "if want == '1' and inc ~= '' then\n"
        "  if incident_acked ~= inc then want = '3' else want = '0' end\n"
        "elseif want == '1' and acked == '1' then want = '0'\n"
        "elseif want == '2' and thanked == '1' then want = '0' end\n"
        "if want ~= '0' then\n"
        "  ack_count = tonumber(c[7] or '0')\n"
        "  if ack_day ~= day then ack_day, ack_count = day, 0 end\n"
        "  if ARGV[b + 7] == '1' then skipped = 'quiet'\n"
        "  elseif ack_count >= cap then skipped = 'cap'\n"
        "  else\n"
        "    ack = want\n"
        "    ack_count = ack_count + 1\n"
        "    if want == '2' then thanked = '1' else acked = '1' end\n"
        "    if want == '3' then incident_acked = inc end\n"
        "  end\n"
        "end\n"
        "local fresh = opened == '1' and reopened == '0'\n"
        "if fresh or status ~= c[2] then put('status', status) end\n"
        "put('updated_at', nowt); put('last_post', pid); put('last_intent', ARGV[b + "
        "4])\n"
        "if fresh or due ~= c[8] then put('due', due) end\n"
        "if fresh or pending ~= c[9] then put('pending', pending) end\n"
        "put('trend', string.format('%.3f', 0.7 * tonumber(trend) + 0.3 * "
        "tonumber(score)))\n"
        "put('posts', tonumber(posts or '0') + 1)\n"
        "if fresh or acked ~= c[4] then put('acked', acked) end\n"
        "if fresh or thanked ~= c[5] then put('thanked', thanked) end\n"
        "if fresh or incident_acked ~= c[12] then put('incident_acked', incident_acked) "
        "end\n"
        "if ack_day then\n"
        "  if fresh or ack_day ~= c[6] then put('ack_day', ack_day) end\n"
        "  if ack_count and (fresh or ack_count ~= tonumber(c[7] or '')) then "
        "put('ack_count', ack_count)\n"
        "  elseif not ack_count and (fresh or not c[7]) then put('ack_count', c[7] or 0) "
        "end\n"
        "end\n"
        "if inc ~= '' then put('incident', inc) end\n"
        "local refresh = now > exp_at - ttl / 2\n"
        "if refresh then put('exp_at', now + ttl) end\n"
        "local res = case_id .. '|' .. opened .. '|' .. prio .. '|' .. ack .. '|' .. "
        "status .. '|' .. due .. '|' .. pending .. '|' .. agent .. '|' .. reopened .. "
        "'|' .. skipped .. '|' .. preferred .. '|' .. idx\n"
        "if redis.call('HSETNX', kp, pid, res) == 0 then return redis.call('HGET', kp, "
        "pid) end\n"
        "if wipe then redis.call('DEL', kc) end\n"
        "redis.call('HSET', kc, unpack(f, 1, n))\n"
        "if redis.call('RPUSH', kh, ARGV[b + 9]) > 2 * keep then redis.call('LTRIM', kh, "
        "-keep, -1) end\n"
        "if refresh then\n"
        "  redis.call('PEXPIRE', kc, ttl)\n"
        "  redis.call('PEXPIRE', kp, ttl)\n"
        "  redis.call('PEXPIRE', kh, ttl)\n"
        "end\n"
        "return res\n"
        "end\n"
        "local out = {}\n"
        "for i = 0, #KEYS / 3 - 1 do\n"
        "  out[i + 1] = apply(KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3], 6 + i * "
        "11)\n"
        "end\n"
        "return out\n",
};

/* Delivery receipts of a chunk of replies, applied in order in one call. KEYS: per
 * receipt its case hash. ARGV: 1 now_ms, then per receipt 3 arguments (b = 1 + 3 * its
 * index): b+1 case_id, b+2 status, b+3 auto (0/1). Per receipt one HMGET and at most one
 * HSET: a sent reply of the current case records first_response_at once, and an agent's
 * (not automatic) reply stops the SLA clock (pending 0) and, unless the case is resolved,
 * waits for the customer. Returns 2 integers per receipt: first_ms (the first-response
 * time when this was the case's first sent reply, else -1) and stopped (1 when it stopped
 * the SLA clock). */
struct sc_redis_script router_case_delivered_script = {
    .source = "local now, out = tonumber(ARGV[1]), {}\n"
              "for i = 1, #KEYS do\n"
              "  local b, first, stopped = 1 + (i - 1) * 3, -1, 0\n"
              "  local c = redis.call('HMGET', KEYS[i], 'case_id', 'status', "
              "'first_response_at', 'opened_at')\n"
              "  if c[1] == ARGV[b + 1] and ARGV[b + 2] == 'sent' then\n"
              "    local f = {}\n"
              "    if ARGV[b + 3] == '0' then\n"
              "      if c[2] ~= 'resolved' then f[1], f[2] = 'status', "
              "'waiting_for_customer' end\n"
              "      f[#f + 1], f[#f + 2] = 'pending', '0'\n"
              "      stopped = 1\n"
              "    end\n"
              "    if not c[3] then\n"
              "      f[#f + 1], f[#f + 2] = 'first_response_at', ARGV[1]\n"
              "      first = now - tonumber(c[4] or ARGV[1])\n"
              "    end\n"
              "    if #f > 0 then redis.call('HSET', KEYS[i], unpack(f)) end\n"
              "  end\n"
              "  out[2 * i - 1], out[2 * i] = first, stopped\n"
              "end\n"
              "return out\n",
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

/* Grows a chunk's argument vector (strings and their lengths) to hold argc entries. */
static void chunk_argv_reserve(const char ***argv, size_t **lens, size_t *vcap,
                               size_t argc)
{
    if (argc <= *vcap)
        return;
    *vcap = argc * 2;
    *argv = sc_realloc(*argv, *vcap * sizeof(**argv));
    *lens = sc_realloc(*lens, *vcap * sizeof(**lens));
}

size_t case_chunk_flush(struct case_chunk *c, struct sc_redis_batch *batch)
{
    size_t n = c->n;
    if (n == 0)
        return 0;
    size_t argc = n * CASE_CHUNK_FIELDS + 6;
    chunk_argv_reserve(&c->argv, &c->lens, &c->vcap, argc);
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

void delivered_chunk_add(struct delivered_chunk *c, const char *customer,
                         const char *case_id, const char *status, bool auto_reply,
                         long long now_ms)
{
    if (c->n == 0) {
        c->used = 0;
        snprintf(c->now, sizeof(c->now), "%lld", now_ms);
    }
    if ((c->n + 1) * DELIVERED_CHUNK_FIELDS > c->fcap) {
        c->fcap = (c->n + 1) * DELIVERED_CHUNK_FIELDS * 2;
        c->off = sc_realloc(c->off, c->fcap * sizeof(*c->off));
        c->len = sc_realloc(c->len, c->fcap * sizeof(*c->len));
    }
    size_t f = c->n * DELIVERED_CHUNK_FIELDS;
    char key[620];
    snprintf(key, sizeof(key), "case:{%s}", customer);
    const char *args[DELIVERED_CHUNK_FIELDS] = {key, case_id, status,
                                                auto_reply ? "1" : "0"};
    for (size_t i = 0; i < DELIVERED_CHUNK_FIELDS; i++) {
        size_t n = strlen(args[i]);
        if (c->used + n + 1 > c->cap) {
            c->cap = (c->used + n + 1) * 2;
            c->buf = sc_realloc(c->buf, c->cap);
        }
        memcpy(c->buf + c->used, args[i], n + 1);
        c->off[f + i] = c->used;
        c->len[f + i] = n;
        c->used += n + 1;
    }
    c->n++;
}

size_t delivered_chunk_flush(struct delivered_chunk *c, struct sc_redis_batch *batch)
{
    size_t n = c->n;
    if (n == 0)
        return 0;
    size_t argc = n * DELIVERED_CHUNK_FIELDS + 1;
    chunk_argv_reserve(&c->argv, &c->lens, &c->vcap, argc);
    size_t k = 0;
    for (size_t i = 0; i < n; i++, k++) { /* keys first */
        c->argv[k] = c->buf + c->off[i * DELIVERED_CHUNK_FIELDS];
        c->lens[k] = c->len[i * DELIVERED_CHUNK_FIELDS];
    }
    c->argv[k] = c->now;
    c->lens[k++] = strlen(c->now);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 1; j < DELIVERED_CHUNK_FIELDS; j++, k++) {
            c->argv[k] = c->buf + c->off[i * DELIVERED_CHUNK_FIELDS + j];
            c->lens[k] = c->len[i * DELIVERED_CHUNK_FIELDS + j];
        }
    sc_redis_batch_add_eval(batch, &router_case_delivered_script, (int)n, (int)argc,
                            c->argv, c->lens);
    c->n = 0;
    return n;
}

void delivered_chunk_free(struct delivered_chunk *c)
{
    sc_free(c->buf);
    sc_free(c->off);
    sc_free(c->len);
    sc_free(c->argv);
    sc_free(c->lens);
    memset(c, 0, sizeof(*c));
}
