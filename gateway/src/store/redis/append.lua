-- Appends a batch of events atomically, applying the run rules first: a rule
-- that fails refuses the whole batch and writes nothing. Ids come from one
-- counter, so they are global and increase in commit order on every gateway.
--
-- KEYS[1]  the key prefix
-- ARGV[1]  now (ms), ARGV[2] the number of events, ARGV[3] values per event,
--          then per event: kind, npc, run ("" none), ts, rest (the envelope's
--          JSON after its opening brace, without id and run_id), message,
--          agent, by, digest, owner, deadline_ms, result (JSON or ""), error
--          ("" none), question (JSON or ""), answer (JSON or ""), cancelled
--          ("1" or ""), usage (JSON or ""), at (the event's own time, ms),
--          key (the publisher's id for it, or "")
-- Returns  {"ok", id, run, id, run, ...} or {"rule", name, a, b, c}
--
-- Each event goes to the shared log and its npc's stream with named fields
-- (gateway/src/store/redis/entry.rs reads them); a run's hash keeps the
-- question it waits on as asked_id, asked_at and asked (the question's JSON),
-- and what its events said it used, added up (in_tokens, out_tokens,
-- cost_usd, model). Runs started and usage are added to per-minute and
-- per-hour buckets of the event's own time (usage:m:<minute>, usage:h:<hour>,
-- fields "<npc>|runs", "|in", "|out", "|cost"); minute buckets expire after
-- eight days, hour buckets stay.

local p = KEYS[1]
local now = ARGV[1]
local n = tonumber(ARGV[2])
local W = tonumber(ARGV[3])
local FIRST = 3

local runs, open = {}, {}

local function run_state(id)
  local r = runs[id]
  if r == nil then
    local v = redis.call('HMGET', p .. ':run:' .. id, 'npc', 'status', 'ended_ms')
    if v[1] then
      r = { npc = v[1], status = v[2], ended = (v[3] ~= false and v[3] ~= '') }
    else
      r = false
    end
    runs[id] = r
  end
  return r
end

local function open_run(npc)
  local o = open[npc]
  if o == nil then
    o = redis.call('HGET', p .. ':open', npc) or false
    open[npc] = o
  end
  return o
end

local after = { started = 'running', step = 'running', response = 'running',
                awaiting = 'awaiting', done = 'done', error = 'error' }
local run_kinds = { step = true, awaiting = true, done = true, error = true }

local function advance(r, npc, run, kind)
  r.status = after[kind] or r.status
  if kind == 'done' or kind == 'error' then
    r.ended = true
    if open_run(npc) == run then open[npc] = false end
  end
end

-- Events whose key their npc stored already (a replay): answered with the
-- stored id, not stored again (keys are kept 30 days).
local known = {}
for i = 0, n - 1 do
  local b = FIRST + i * W
  local key = ARGV[b + 19]
  if key ~= '' then
    known[i] = redis.call('GET', p .. ':key:' .. ARGV[b + 2] .. ':' .. key) or nil
  end
end

-- The rules, on an overlay of what this batch has done so far.
local resolved = {}
for i = 0, n - 1 do
  local b = FIRST + i * W
  local kind, npc, run = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  if known[i] then
    run = ''
  elseif kind == 'started' and run ~= '' then
    if run_state(run) then return { 'rule', 'RunExists', run, '', '' } end
    local o = open_run(npc)
    if o then return { 'rule', 'Busy', npc, o, '' } end
    runs[run] = { npc = npc, status = 'running', ended = false }
    open[npc] = run
  elseif run ~= '' then
    local r = run_state(run)
    if not r then return { 'rule', 'UnknownRun', run, '', '' } end
    if r.npc ~= npc then return { 'rule', 'WrongNpc', run, npc, r.npc } end
    if r.ended then return { 'rule', 'RunEnded', run, '', '' } end
    if kind == 'response' and r.status ~= 'awaiting' then
      return { 'rule', 'NotAwaiting', run, '', '' }
    end
    advance(r, npc, run, kind)
  elseif run_kinds[kind] then
    -- An npc-level event belongs to the npc's open run, if there is one.
    local o = open_run(npc)
    if o then
      run = o
      advance(run_state(o), npc, o, kind)
    end
  end
  resolved[i] = run
end

local function put(fields, name, value)
  if value ~= '' then
    fields[#fields + 1] = name
    fields[#fields + 1] = value
  end
end

-- Everything holds: write.
local out = { 'ok' }
for i = 0, n - 1 do
  local b = FIRST + i * W
  if known[i] then
    out[#out + 1] = tonumber(known[i])
    out[#out + 1] = ''
  else
  local kind, npc, ts, rest, message = ARGV[b + 1], ARGV[b + 2], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6]
  local agent, by, digest, owner, deadline = ARGV[b + 7], ARGV[b + 8], ARGV[b + 9], ARGV[b + 10], ARGV[b + 11]
  local result, err = ARGV[b + 12], ARGV[b + 13]
  local question, answer, cancelled = ARGV[b + 14], ARGV[b + 15], ARGV[b + 16]
  local usage = ARGV[b + 17]
  local at = tonumber(ARGV[b + 18])
  local run = resolved[i]
  local id = redis.call('INCR', p .. ':seq')
  -- The wire JSON, as gateway/src/store/event.rs `envelope_json` writes it.
  local head = '{"id":' .. id .. ','
  if run ~= '' then head = head .. '"run_id":' .. cjson.encode(run) .. ',' end
  local json = head .. rest
  local sid = '0-' .. id
  local fields = { 'json', json, 'kind', kind, 'npc', npc, 'stored_ms', now, 'ts', ts }
  put(fields, 'run', run)
  put(fields, 'message', message)
  if kind == 'started' then put(fields, 'digest', digest) end
  put(fields, 'question', question)
  put(fields, 'answer', answer)
  put(fields, 'cancelled', cancelled)
  put(fields, 'usage', usage)
  redis.call('XADD', p .. ':log', sid, unpack(fields))
  redis.call('XADD', p .. ':npc:' .. npc, sid, unpack(fields))
  redis.call('SADD', p .. ':npcs', npc)
  if run ~= '' then
    local rk = p .. ':run:' .. run
    if kind == 'started' then
      redis.call('HSET', rk, 'agent', agent, 'npc', npc, 'status', 'running', 'started_at', ts,
        'started_ms', now, 'by', by, 'digest', digest, 'owner', owner, 'deadline_ms', deadline,
        'last_ms', now)
      redis.call('HSET', p .. ':open', npc, run)
      redis.call('ZADD', p .. ':runs', now, run)
      redis.call('ZADD', p .. ':runs:' .. agent, now, run)
      if digest ~= '' then redis.call('HSET', p .. ':tokens', digest, run) end
    elseif kind == 'done' or kind == 'error' then
      redis.call('HSET', rk, 'status', after[kind], 'ended_at', ts, 'ended_ms', now, 'last_ms', now,
        'result', result, 'error', err)
      redis.call('HDEL', rk, 'asked_id', 'asked_at', 'asked', 'question')
      if redis.call('HGET', p .. ':open', npc) == run then redis.call('HDEL', p .. ':open', npc) end
      local d = redis.call('HGET', rk, 'digest')
      if d and d ~= '' then redis.call('HDEL', p .. ':tokens', d) end
    elseif kind == 'awaiting' then
      redis.call('HSET', rk, 'status', 'awaiting', 'last_ms', now)
      if question ~= '' then
        redis.call('HSET', rk, 'asked_id', id, 'asked_at', ts, 'asked', question)
      end
    else
      redis.call('HSET', rk, 'status', 'running', 'last_ms', now)
      redis.call('HDEL', rk, 'asked_id', 'asked_at', 'asked', 'question')
    end
    if usage ~= '' then
      local u = cjson.decode(usage)
      redis.call('HINCRBY', rk, 'in_tokens', u.input_tokens or 0)
      redis.call('HINCRBY', rk, 'out_tokens', u.output_tokens or 0)
      redis.call('HINCRBYFLOAT', rk, 'cost_usd', u.cost_usd or 0)
      if type(u.model) == 'string' then redis.call('HSET', rk, 'model', u.model) end
    end
  end
  local started = kind == 'started' and run ~= ''
  if started or usage ~= '' then
    local u = usage ~= '' and cjson.decode(usage) or {}
    local buckets = { { p .. ':usage:m:' .. math.floor(at / 60000), 691200 },
                      { p .. ':usage:h:' .. math.floor(at / 3600000), 0 } }
    for _, bucket in ipairs(buckets) do
      local key = bucket[1]
      if started then redis.call('HINCRBY', key, npc .. '|runs', 1) end
      if usage ~= '' then
        redis.call('HINCRBY', key, npc .. '|in', u.input_tokens or 0)
        redis.call('HINCRBY', key, npc .. '|out', u.output_tokens or 0)
        redis.call('HINCRBYFLOAT', key, npc .. '|cost', u.cost_usd or 0)
      end
      if bucket[2] > 0 then redis.call('EXPIRE', key, bucket[2]) end
    end
  end
  if ARGV[b + 19] ~= '' then
    redis.call('SET', p .. ':key:' .. npc .. ':' .. ARGV[b + 19], id, 'EX', 2592000)
  end
  out[#out + 1] = id
  out[#out + 1] = run
  end
end
return out
