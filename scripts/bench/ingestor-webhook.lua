-- wrk script: POST /webhooks/generic with a fresh v1 post per request, signed as the
-- generic webhook documents (X-Socialcare-Signature: sha256=<hex HMAC-SHA256 of
-- "<X-Socialcare-Timestamp>.<body>">). The HMAC is computed here in pure Lua (LuaJIT bit
-- ops) so every request is a real, verifiable delivery. Secret: WEBHOOK_SECRET=bench-secret.
-- With a pool size argument (wrk ... -- 100000) each thread signs that many distinct
-- deliveries in init(), before the measured run, and sends them in turn, so the load
-- generator does not spend a third of the two cores on Lua HMACs during the run (a pool
-- smaller than the run's request count repeats deliveries: the repeats are duplicates).
local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror = bit.rshift, bit.lshift, bit.ror
local tobit = bit.tobit

local K = {
  0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
  0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
  0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
  0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
  0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
  0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
  0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
  0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2}

local function sha256(msg)
  local h0,h1,h2,h3,h4,h5,h6,h7 = 0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,
                                  0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19
  local ml = #msg
  msg = msg .. "\128" .. string.rep("\0", (55 - ml) % 64)
  local bits = ml * 8
  msg = msg .. string.char(0,0,0,0, band(rshift(bits,24),255), band(rshift(bits,16),255),
                           band(rshift(bits,8),255), band(bits,255))
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      local a,b,c,d = msg:byte(chunk + i*4, chunk + i*4 + 3)
      w[i] = tobit(bor(lshift(a,24), lshift(b,16), lshift(c,8), d))
    end
    for i = 16, 63 do
      local s0 = bxor(ror(w[i-15],7), ror(w[i-15],18), rshift(w[i-15],3))
      local s1 = bxor(ror(w[i-2],17), ror(w[i-2],19), rshift(w[i-2],10))
      w[i] = tobit(w[i-16] + s0 + w[i-7] + s1)
    end
    local a,b,c,d,e,f,g,h = h0,h1,h2,h3,h4,h5,h6,h7
    for i = 0, 63 do
      local S1 = bxor(ror(e,6), ror(e,11), ror(e,25))
      local ch = bxor(band(e,f), band(bnot(e),g))
      local t1 = tobit(h + S1 + ch + K[i+1] + w[i])
      local S0 = bxor(ror(a,2), ror(a,13), ror(a,22))
      local maj = bxor(band(a,b), band(a,c), band(b,c))
      local t2 = tobit(S0 + maj)
      h,g,f,e,d,c,b,a = g,f,e,tobit(d + t1),c,b,a,tobit(t1 + t2)
    end
    h0,h1,h2,h3 = tobit(h0+a),tobit(h1+b),tobit(h2+c),tobit(h3+d)
    h4,h5,h6,h7 = tobit(h4+e),tobit(h5+f),tobit(h6+g),tobit(h7+h)
  end
  local out = {}
  for _, v in ipairs({h0,h1,h2,h3,h4,h5,h6,h7}) do
    out[#out+1] = string.char(band(rshift(v,24),255), band(rshift(v,16),255),
                              band(rshift(v,8),255), band(v,255))
  end
  return table.concat(out)
end

local secret = "bench-secret"
local ipad, opad = {}, {}
for i = 1, 64 do
  local k = i <= #secret and secret:byte(i) or 0
  ipad[i] = string.char(bxor(k, 0x36))
  opad[i] = string.char(bxor(k, 0x5c))
end
ipad, opad = table.concat(ipad), table.concat(opad)

local function hmac_hex(msg)
  local d = sha256(opad .. sha256(ipad .. msg))
  return (d:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local counter = 0
local next_thread = 0
local ts = tostring(os.time())
thread_id = 0 -- a global: setup() sets it in each thread's own Lua state

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end

local pool, pool_size, pool_next = {}, 0, 0
-- A random prefix per thread (and per run), so ids never repeat across threads or runs.
prefix = "x"

local function make_request()
  counter = counter + 1
  local id = string.format("b%s-%d-%d", prefix, counter, thread_id)
  local body = string.format(
    '{"v":1,"id":"generic:%s","platform":"generic","kind":"mention",' ..
    '"created_at":"2026-11-22T07:00:00Z","author":{"id":"c%d","followers":%d},' ..
    '"text":"@acme my order %d has not arrived, can you help?"}',
    id, counter % 5000, counter % 1000, counter)
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Socialcare-Timestamp"] = ts,
    ["X-Socialcare-Signature"] = "sha256=" .. hmac_hex(ts .. "." .. body),
  }
  return wrk.format("POST", nil, headers, body)
end

function init(args)
  local f = io.open("/dev/urandom", "rb")
  prefix = (f:read(8):gsub(".", function(c) return string.format("%02x", c:byte()) end))
  f:close()
  pool_size = tonumber(args[1] or "0") or 0
  for i = 1, pool_size do
    pool[i] = make_request()
  end
end

function request()
  if pool_size > 0 then
    pool_next = pool_next % pool_size + 1
    return pool[pool_next]
  end
  return make_request()
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("requests %d, non-2xx %d, socket errors %d\n", summary.requests,
    non2xx, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
  io.write(string.format("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
