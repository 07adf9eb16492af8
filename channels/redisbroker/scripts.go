package redisbroker

import (
	"strings"

	"github.com/redis/rueidis"
)

// The scripts read the clock with TIME, so that every node ages entries
// by Redis's clock rather than its own. They touch only the keys of one
// group or user (plus the online set), all on one shard. Some build key
// names (sweep, the user keys of an online set; toChannelScript and
// toUserScript, node channels): on Redis Cluster the keys a script builds
// share the slot of the keys it is given (a user key and its online set
// carry the same tag), and node channels, which do not, are published
// to outside the scripts.

// nowMS is the Lua prelude that reads Redis's clock in milliseconds.
const nowMS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// ensureEpoch gives a group without one a new epoch and an empty history
// (a stream left from a lost epoch cannot take the new offsets). A group
// whose offset counter is behind its history (the counter alone was lost)
// gets one too: its saved publishes would otherwise fail until the counter
// caught up.
const ensureEpoch = `local m = redis.call('HMGET', KEYS[1], 'e', 'o')
local e = m[1]
if e then
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
  if last and tonumber(string.match(last[1], '^%d+')) > tonumber(m[2] or '0') then e = false end
end
if not e then
  e = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', e)
  redis.call('DEL', KEYS[2])
end
`

// publishSaved appends messages of one group to its history, in order,
// trims the history by count and bytes (keeping the newest), and
// publishes each with its position. It takes a run of messages so that
// the pipeline pays the group's bookkeeping (epoch, clock, counters,
// trimming, TTLs) once per run rather than once per message. The stream
// expires with its newest entry's age cap, or without one with the meta,
// so that no history outlives its epoch and counter (a stream found
// without them is deleted by ensureEpoch).
// KEYS: meta, stream, group channel.
// ARGV: new epoch, size, ttl ms (0: none), meta ttl ms, max bytes (0:
// none), then the bodies.
// Returns the first message's offset and the epoch; the others follow
// it one by one.
const publishSavedSrc = nowMS + ensureEpoch + `
local n = #ARGV - 5
local top = redis.call('HINCRBY', KEYS[1], 'o', n)
local first = top - n + 1
redis.call('HSET', KEYS[1], 't', ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('HSET', KEYS[1], 'sz', 0) end
local ts = string.format('%d', now)
local added = 0
for i = 1, n do
  local body = ARGV[5 + i]
  redis.call('XADD', KEYS[2], string.format('%d', first + i - 1) .. '-1', 't', ts, 'b', body)
  added = added + string.len(body)
end
local sz = redis.call('HINCRBY', KEYS[1], 'sz', added)
local size, maxb = tonumber(ARGV[2]), tonumber(ARGV[5])
local len = redis.call('XLEN', KEYS[2])
local freed = 0
local function over() return len > 1 and (len > size or (maxb > 0 and sz - freed > maxb)) end
local want = 0
while over() do
  -- The oldest entries: as many as the count cap needs gone, then, for
  -- the byte cap, twice as many each round, a bounded number at a time.
  want = math.max(len - size, want * 2, 1)
  local k = math.min(want, len - 1, 1000)
  local ids = {}
  for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', k)) do
    if not over() then break end
    ids[#ids + 1] = entry[1]
    local fields = entry[2]
    for j = 1, #fields, 2 do
      if fields[j] == 'b' then freed = freed + string.len(fields[j + 1]) end
    end
    len = len - 1
  end
  if #ids == 0 then break end
  redis.call('XDEL', KEYS[2], unpack(ids))
end
if freed > 0 then redis.call('HINCRBY', KEYS[1], 'sz', -freed) end
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
for i = 1, n do
  redis.call('PUBLISH', KEYS[3], 's' .. string.format('%d', first + i - 1) .. ' ' .. e .. '\n' .. ARGV[5 + i])
end
return {first, e}
`

// publishSavedClusterSrc is publishSavedSrc for Redis Cluster, where the
// group's channel is a sharded one, in the slot of its keys.
var publishSavedClusterSrc = strings.Replace(publishSavedSrc, "redis.call('PUBLISH'", "redis.call('SPUBLISH'", 1)

// history reads a group's position and the entries after since.
// KEYS: meta, stream.
// ARGV: new epoch, since offset ("" for none, "top" for the position
// alone), since epoch, meta ttl ms.
// Returns epoch, top offset, ttl ms, now ms, entries after since (all when
// since is none, of another epoch or past the top), the oldest entry.
var history = rueidis.NewLuaScript(nowMS + ensureEpoch + `
local top = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
local ttl = redis.call('HGET', KEYS[1], 't') or '0'
redis.call('PEXPIRE', KEYS[1], math.max(tonumber(ARGV[4]), tonumber(ttl)))
local entries = {}
if ARGV[2] ~= 'top' then
  local start = '-'
  if ARGV[2] ~= '' and ARGV[3] == e and tonumber(ARGV[2]) <= top then
    start = '(' .. ARGV[2] .. '-1'
  end
  entries = redis.call('XRANGE', KEYS[2], start, '+')
end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
return {e, top, ttl, now, entries, first}
`)

// flush drops a group's history and gives it a new epoch; the offsets
// go on from where they were.
// KEYS: meta, stream. ARGV: new epoch, meta ttl ms.
var flush = rueidis.NewLuaScript(`
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'e', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// addPresence records a channel in a group's presence until now + ttl.
// KEYS: presence set. ARGV: member, ttl ms.
var addPresence = rueidis.NewLuaScript(nowMS + `
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// readPresence returns a group's live entries. It leaves the expired
// ones to sweepPresence, which reports them.
// KEYS: presence set.
var readPresence = rueidis.NewLuaScript(nowMS + `
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
`)

// sweepPresence drops a group's expired entries (their nodes died) and
// returns them; each is returned to one node only.
// KEYS: presence set.
var sweepPresence = rueidis.NewLuaScript(nowMS + `
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end
return gone
`)

// connected records a channel's node and, for a user's channel, the
// user's connection; 1 when the user was not online.
// KEYS: channel key, user set, online set.
// ARGV: node, user member, ttl ms, user.
var connected = rueidis.NewLuaScript(nowMS + `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
if ARGV[4] == '' then return 0 end
local uk, on = KEYS[2], KEYS[3]
` + connectUser)

// userConnected is connected without the channel key, for a channel
// whose record is on another shard than its user's entries.
// KEYS: user set, online set. ARGV: as connected's.
var userConnected = rueidis.NewLuaScript(nowMS + `
local uk, on = KEYS[1], KEYS[2]
` + connectUser)

// connectUser records the user's connection in the user set uk and the
// online set on.
const connectUser = `local exp = now + tonumber(ARGV[3])
redis.call('ZADD', uk, exp, ARGV[2])
redis.call('PEXPIRE', uk, ARGV[3])
local was = redis.call('ZSCORE', on, ARGV[4])
redis.call('ZADD', on, 'GT', exp, ARGV[4])
if was then return 0 end
return 1
`

// disconnected removes what connected recorded; 1 when the user has no
// live connection left.
// KEYS: channel key, user set, online set. ARGV: user member, user.
var disconnected = rueidis.NewLuaScript(nowMS + `
redis.call('DEL', KEYS[1])
if ARGV[2] == '' then return 0 end
local uk, on = KEYS[2], KEYS[3]
` + disconnectUser)

// userDisconnected removes what userConnected recorded.
// KEYS: user set, online set. ARGV: as disconnected's.
var userDisconnected = rueidis.NewLuaScript(nowMS + `
local uk, on = KEYS[1], KEYS[2]
` + disconnectUser)

// disconnectUser removes the user's connection from uk and, when it was
// the last live one, the user from on.
const disconnectUser = `redis.call('ZREM', uk, ARGV[1])
redis.call('ZREMRANGEBYSCORE', uk, '-inf', now)
if redis.call('ZCARD', uk) > 0 then return 0 end
return redis.call('ZREM', on, ARGV[2])
`

// sweep takes offline the users whose every connection expired (their
// nodes died) and returns them; each is returned to one node only.
// KEYS: online set. ARGV: user key prefix, limit.
var sweep = rueidis.NewLuaScript(nowMS + `
local users = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[2])
local gone = {}
for _, u in ipairs(users) do
  local k = ARGV[1] .. u
  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
  local last = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('ZREM', KEYS[1], u)
    table.insert(gone, u)
  else
    redis.call('ZADD', KEYS[1], last[2], u)
  end
end
return gone
`)

// isOnline: 1 when the user has a live connection. KEYS: user set.
var isOnline = rueidis.NewLuaScript(nowMS + `
if redis.call('ZCOUNT', KEYS[1], now, '+inf') > 0 then return 1 end
return 0
`)

// onlineUsers: the users with a live connection. KEYS: online set.
var onlineUsers = rueidis.NewLuaScript(nowMS + `
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
`)

// toChannelScript publishes a node message to the node holding a channel;
// 0 when no live node holds it.
// KEYS: channel key. ARGV: node channel prefix, payload, origin node.
var toChannelScript = rueidis.NewLuaScript(`
local node = redis.call('GET', KEYS[1])
if not node or node == ARGV[3] then return 0 end
return redis.call('PUBLISH', ARGV[1] .. node, ARGV[2])
`)

// userNodesLua counts, by node, the live channels of the user set
// KEYS[1] on nodes other than origin (per).
const userNodesLua = nowMS + `
local members = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
local per = {}
for _, m in ipairs(members) do
  local i = string.find(m, '|', 1, true)
  if i then
    local node = string.sub(m, 1, i - 1)
    if node ~= origin then per[node] = (per[node] or 0) + 1 end
  end
end
`

// toUserScript publishes a node message to every other node holding a
// channel of the user; returns how many channels those nodes hold.
// KEYS: user set. ARGV: node channel prefix, payload, origin node.
var toUserScript = rueidis.NewLuaScript(`local origin = ARGV[3]
` + userNodesLua + `
local n = 0
for node, count in pairs(per) do
  if redis.call('PUBLISH', ARGV[1] .. node, ARGV[2]) > 0 then n = n + count end
end
return n
`)

// userNodes is what toUserScript publishes to, for Redis Cluster, where
// a node's channel is not in the user's slot: the other nodes holding a
// channel of the user, each followed by how many it holds.
// KEYS: user set. ARGV: origin node.
var userNodes = rueidis.NewLuaScript(`local origin = ARGV[1]
` + userNodesLua + `
local out = {}
for node, count in pairs(per) do
  out[#out + 1] = node
  out[#out + 1] = count
end
return out
`)
