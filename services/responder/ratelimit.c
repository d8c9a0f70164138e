/* GCRA and pause Lua scripts for the shared rate limits, the deferred-reply queue
 * scripts, and parsing of the platforms' rate-limit headers. */
#include "ratelimit.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Every distinct key of the call is read by one MGET, the decisions are made in order on
 * the values in memory, and each bucket a decision charged is written once at the end
 * (with its final TAT): 1 + (changed buckets) Redis calls per call instead of up to five
 * per decision. The result is the one of separate calls in the same order. */
const char ratelimit_gcra_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local names, seen = {}, {}\n"
    "for i = 1, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  if not seen[k] then seen[k] = true; names[#names + 1] = k end\n"
    "end\n"
    "local val, dirty = {}, {}\n"
    "if #names > 0 then\n"
    "  local got = redis.call('MGET', unpack(names))\n"
    "  for i = 1, #names do val[names[i]] = tonumber(got[i]) or 0 end\n"
    "end\n"
    "local out = {}\n"
    "for i = 0, #KEYS / 3 - 1 do\n"
    "  local ka, kp, kc = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]\n"
    "  local ai, ab = tonumber(ARGV[5 * i + 1]), tonumber(ARGV[5 * i + 2])\n"
    "  local ci, cb = tonumber(ARGV[5 * i + 3]), tonumber(ARGV[5 * i + 4])\n"
    "  local cost = tonumber(ARGV[5 * i + 5])\n"
    "  local allowed, wait, level = 1, 0, -1\n"
    "  local pause = val[kp]\n"
    "  if pause > now then\n"
    "    allowed, wait = 0, pause - now\n"
    "  else\n"
    "    if ab < cost then ab = cost end\n"
    "    local n1, n2\n"
    "    if ai > 0 then\n"
    "      local tat = val[ka]\n"
    "      if tat < now then tat = now end\n"
    "      n1 = tat + ai * cost\n"
    "      local w = n1 - ai * ab - now\n"
    "      if w > 0 then allowed, wait = 0, math.ceil(w) end\n"
    "    end\n"
    "    if ci > 0 then\n"
    "      local tat = val[kc]\n"
    "      if tat < now then tat = now end\n"
    "      n2 = tat + ci\n"
    "      local w = n2 - ci * cb - now\n"
    "      if w > 0 then\n"
    "        allowed = 0\n"
    "        if math.ceil(w) > wait then wait = math.ceil(w) end\n"
    "      end\n"
    "    end\n"
    "    if allowed == 1 then\n"
    "      if n1 then\n"
    "        val[ka], dirty[ka] = n1, true\n"
    "        level = math.floor((now + ai * ab - n1) / ai)\n"
    "      end\n"
    "      if n2 then val[kc], dirty[kc] = n2, true end\n"
    "    end\n"
    "  end\n"
    "  out[3 * i + 1], out[3 * i + 2], out[3 * i + 3] = allowed, wait, level\n"
    "end\n"
    "for i = 1, #names do\n"
    "  local k = names[i]\n"
    "  if dirty[k] then\n"
    "    redis.call('SET', k, val[k], 'PX', math.ceil(val[k] - now) + 1)\n"
    "  end\n"
    "end\n"
    "return out\n";

const char ratelimit_pause_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ms = tonumber(ARGV[1])\n"
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if cur >= now + ms then return cur - now end\n"
    "redis.call('SET', KEYS[1], now + ms, 'PX', ms)\n"
    "return ms\n";

const char ratelimit_defer_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])\n"
    "return 1\n";

const char ratelimit_claim_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, "
    "tonumber(ARGV[2]))\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local d = redis.call('HGET', KEYS[2], id)\n"
    "  if d then\n"
    "    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)\n"
    "    out[#out + 1] = d\n"
    "  else\n"
    "    redis.call('ZREM', KEYS[1], id)\n"
    "  end\n"
    "end\n"
    "return out\n";

double ratelimit_interval_ms(double per_min)
{
    return per_min > 0 ? 60000.0 / per_min : 0;
}

void ratelimit_keys(const char *account, const char *customer, char *acct, char *pause,
                    char *cust, size_t size)
{
    snprintf(acct, size, "rl:acct:{%s}", account);
    snprintf(pause, size, "rl:pause:{%s}", account);
    snprintf(cust, size, "rl:cust:{%s}", customer);
}

void ratelimit_headers_init(struct ratelimit_headers *h)
{
    h->limit = -1;
    h->remaining = -1;
    h->reset_ms = 0;
    h->retry_after_s = -1;
    h->retry_at_ms = 0;
}

int64_t ratelimit_parse_iso8601(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n < 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    int ms = 0;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        int scale = 100;
        while (isdigit((unsigned char)*p)) {
            ms += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    if (*p != 'Z' && strncmp(p, "+00:00", 6) != 0)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    return (int64_t)t * 1000 + ms;
}

void ratelimit_header_line(struct ratelimit_headers *h, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return;
    size_t nl = (size_t)(colon - line);
    char value[64];
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (vl == 0 || vl >= sizeof(value))
        return;
    memcpy(value, v, vl);
    value[vl] = '\0';
    const char *name = line;
    if (nl > 2 && strncasecmp(name, "x-", 2) == 0) {
        name += 2;
        nl -= 2;
    }
#define RL_IS(lit) (nl == sizeof(lit) - 1 && strncasecmp(name, lit, nl) == 0)
    char *end;
    if (RL_IS("rate-limit-limit") || RL_IS("ratelimit-limit")) {
        h->limit = strtol(value, &end, 10);
    } else if (RL_IS("rate-limit-remaining") || RL_IS("ratelimit-remaining")) {
        long r = strtol(value, &end, 10);
        if (end != value && r >= 0)
            h->remaining = r;
    } else if (RL_IS("rate-limit-reset") || RL_IS("ratelimit-reset")) {
        if (strchr(value, 'T')) {
            int64_t t = ratelimit_parse_iso8601(value);
            if (t > 0)
                h->reset_ms = t;
        } else {
            long long s = strtoll(value, &end, 10);
            if (end != value && s > 0)
                h->reset_ms = (int64_t)s * 1000;
        }
    } else if (nl == 11 && strncasecmp(line, "retry-after", 11) == 0) {
        long s = strtol(value, &end, 10);
        if (end != value && *end == '\0' && s >= 0) {
            h->retry_after_s = s;
        } else { /* an HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT"); libcurl parses it */
            time_t t = curl_getdate(value, NULL);
            if (t > 0)
                h->retry_at_ms = (int64_t)t * 1000;
        }
    }
#undef RL_IS
}

int64_t ratelimit_pause_ms(long http_status, const struct ratelimit_headers *h,
                           int64_t now_ms)
{
    if (http_status != 429 && h->remaining != 0)
        return 0;
    int64_t ms = h->reset_ms > now_ms ? h->reset_ms - now_ms : 1000;
    long ra = ratelimit_retry_after_s(h, now_ms);
    if (ra >= 0 && (int64_t)ra * 1000 > ms)
        ms = (int64_t)ra * 1000;
    if (ms > 15 * 60 * 1000)
        ms = 15 * 60 * 1000;
    return ms;
}

long ratelimit_retry_after_s(const struct ratelimit_headers *h, int64_t now_ms)
{
    if (h->retry_after_s >= 0)
        return h->retry_after_s;
    if (h->retry_at_ms <= 0)
        return -1;
    if (h->retry_at_ms <= now_ms)
        return 0;
    int64_t s = (h->retry_at_ms - now_ms + 999) / 1000;
    return s > 86400 ? 86400 : (long)s;
}
