"""Several nodes as one server (D33, D34): the state in Redis, emits across nodes, leases.

Only imported when REDIS_URL is set, so `pip install .` needs no Redis client; the
`[cluster]` extra brings redis-py (its asyncio client).

- `RedisStore`, `RedisCounters`, `RedisRateLimiter`: the Store, Counters and Limiter
  interfaces over one Redis. Every check-and-update that must hold across nodes is ONE
  Lua script, so it is atomic across nodes as MemoryStore's methods are in one process:
  add/remove a socket (first/last socket of its user, D20; the user's sockets ordered by
  opening for D3's name), join/leave (room created, user already in, user left, was
  typing: D14, D15, D18), typing set and expiry by token (D18), and the fixed window per
  user and kind (D21: timed by Redis, so the same window for every node).
- `python-socketio`'s AsyncRedisManager carries emits to sockets on other nodes; Chat
  sends node-local emits (its own sockets, the D23 ping) with `ignore_queue`.
- `ClusterNode`: this node's lease (D34). It holds `node:<id>` with a TTL (settings
  lease_ttl_ms, REFERENCE_LEASE_TTL_MS), renews it every lease_renew_ms and records its
  sockets; every lease_check_ms it looks at the other registered nodes, and for one whose
  lease is gone exactly one survivor (an NX lock) runs the disconnect of each of its
  sockets, which emits the departures (userLeft, typing ends, userOffline; this server
  sends no roomUsers on a leave) through the manager. So a node lost is cleaned up within
  TTL + check + the sweep; config.py refuses timings that would not fit the documented
  10 s (LEASE_BOUND_S). A node that finds itself swept (a stall longer than its lease)
  closes its own sockets; their clients reconnect.
- Typing timeouts (D18) run as timers on the node that got `typing: true`; a timer dies
  with its node, and the user may still be in the room through a socket elsewhere. So
  the typing state also carries its deadline (Redis's clock) in `typing_due`, and at each
  check every node ends the entries overdue by more than a check interval in one script:
  each ends once, by whichever node's script removes it, and is announced by that node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
import socketio
from redis.commands.core import AsyncScript

from reference_server.auth import Identity
from reference_server.config import LEASE_BOUND_MS, Settings
from reference_server.rate_limit import Kind, Limits
from reference_server.state import COUNTER_NAMES, Counter, JoinResult, LeaveResult, RoomDetail

log = logging.getLogger("reference_server")

# D34: a lost node's sockets are gone within LEASE_BOUND_S of its death (config.py keeps
# the lease's TTL + check interval inside it).
LEASE_BOUND_S = LEASE_BOUND_MS / 1000
_SWEEP_LOCK_MS = 60_000
# D18: at most so many overdue typing entries are ended by one script call (the rest at
# the next check), so that one call never holds Redis for long.
_OVERDUE_BATCH = 500
# D33: a node's commands share one pool. Past _POOL_SIZE in flight a command waits for a
# free connection (redis-py's default pool raises instead: 500s in a busy ramp); one Redis
# runs one command at a time, so more connections would only queue there. The wait is
# bounded far above a round-trip (~0.1-10 ms), so a Redis that is gone still fails.
_POOL_SIZE = 64
_POOL_WAIT_S = 10.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(milliseconds=1)


def _strs(values: Iterable[Any]) -> list[str]:
    """Redis replies as str (the client decodes; this also tells the type checker)."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _at(ms: str | int) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(ms))


def redacted(url: str) -> str:
    """The URL without its password, for the log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


# -- the scripts: KEYS are unused (one Redis, not Redis Cluster); ARGV[1] is the prefix ----

# D18 across nodes: `typing_due` holds every (room, user) typing, scored by its deadline in
# ms on Redis's clock; a member is "<#room>:<room><user>" (any characters in either id).
_DUE = """
local function due_member(rid, uid) return string.len(rid) .. ':' .. rid .. uid end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# D3: the username of the user's oldest open socket, else of its last one (a user gone).
_NAME = """
local function display_name(p, uid)
  local first = redis.call('ZRANGE', p .. 'user:' .. uid, 0, 0)[1]
  if first then return redis.call('HGET', p .. 'sock_name', first) end
  return redis.call('HGET', p .. 'names', uid)
end
"""

# Every script of RedisStore starts with these.
_HELPERS = _DUE + _NAME

_ADD_SOCKET = """
local p, sid, uid, name, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local seq = redis.call('INCR', p .. 'seq')
redis.call('HSET', p .. 'sock_user', sid, uid)
redis.call('HSET', p .. 'sock_name', sid, name)
redis.call('HSET', p .. 'sock_node', sid, node)
redis.call('SADD', p .. 'node:' .. node .. ':socks', sid)
redis.call('ZADD', p .. 'user:' .. uid, seq, sid)
if redis.call('ZCARD', p .. 'user:' .. uid) == 1 then
  redis.call('SADD', p .. 'users', uid)
  return 1
end
return 0
"""

_REMOVE_SOCKET = """
local p, sid = ARGV[1], ARGV[2]
local uid = redis.call('HGET', p .. 'sock_user', sid)
if not uid then return false end
local name = redis.call('HGET', p .. 'sock_name', sid)
local node = redis.call('HGET', p .. 'sock_node', sid)
redis.call('HDEL', p .. 'sock_user', sid)
redis.call('HDEL', p .. 'sock_name', sid)
redis.call('HDEL', p .. 'sock_node', sid)
redis.call('SREM', p .. 'node:' .. node .. ':socks', sid)
redis.call('DEL', p .. 'rooms_of:' .. sid)
redis.call('ZREM', p .. 'user:' .. uid, sid)
local last = 0
if redis.call('ZCARD', p .. 'user:' .. uid) == 0 then
  redis.call('SREM', p .. 'users', uid)
  redis.call('HSET', p .. 'names', uid, name)
  last = 1
end
return {uid, name, last}
"""

_DISPLAY_NAME = """
return display_name(ARGV[1], ARGV[2])
"""

# The room's users in joining order, each followed by its name (D3): one call per listing.
_NAMED_ROOM_USERS = """
local p, rid = ARGV[1], ARGV[2]
local out = {}
for _, uid in ipairs(redis.call('ZRANGE', p .. 'room:' .. rid .. ':users', 0, -1)) do
  local name = display_name(p, uid)
  if not name then return redis.error_reply('no name for user ' .. uid) end
  table.insert(out, uid)
  table.insert(out, name)
end
return out
"""

_JOIN = """
local p, sid, rid, at = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local uid = redis.call('HGET', p .. 'sock_user', sid)
if not uid then return redis.error_reply('no socket ' .. sid) end
local room = p .. 'room:' .. rid
local created = 0
if redis.call('EXISTS', room) == 0 then
  redis.call('HSET', room, 'created', at, 'last', at)
  redis.call('ZADD', p .. 'rooms', redis.call('INCR', p .. 'seq'), rid)
  created = 1
else
  redis.call('HSET', room, 'last', at)
end
if redis.call('ZSCORE', room .. ':socks', sid) then return {1, 1, 0} end
local seq = redis.call('INCR', p .. 'seq')
redis.call('ZADD', room .. ':socks', seq, sid)
redis.call('ZADD', p .. 'rooms_of:' .. sid, seq, rid)
local count = redis.call('HINCRBY', room .. ':ucount', uid, 1)
if count == 1 then redis.call('ZADD', room .. ':users', seq, uid) end
return {0, count > 1 and 1 or 0, created}
"""

_LEAVE = """
local p, sid, rid, at = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local room = p .. 'room:' .. rid
if not redis.call('ZSCORE', room .. ':socks', sid) then return {0, 0, 0} end
local uid = redis.call('HGET', p .. 'sock_user', sid)
redis.call('ZREM', room .. ':socks', sid)
redis.call('ZREM', p .. 'rooms_of:' .. sid, rid)
redis.call('HSET', room, 'last', at)
local left, typing = 0, 0
if redis.call('HINCRBY', room .. ':ucount', uid, -1) <= 0 then
  redis.call('HDEL', room .. ':ucount', uid)
  redis.call('ZREM', room .. ':users', uid)
  left = 1
  if redis.call('ZREM', room .. ':typing', uid) == 1 then
    redis.call('HDEL', room .. ':tokens', uid)
    redis.call('ZREM', p .. 'typing_due', due_member(rid, uid))
    redis.call('DECR', p .. 'typing_pairs')
    typing = 1
  end
end
if redis.call('ZCARD', room .. ':socks') == 0 then
  local gone = redis.call('ZRANGE', room .. ':typing', 0, -1)
  for _, other in ipairs(gone) do
    redis.call('ZREM', p .. 'typing_due', due_member(rid, other))
  end
  if #gone > 0 then redis.call('DECRBY', p .. 'typing_pairs', #gone) end
  redis.call('DEL', room, room .. ':socks', room .. ':ucount', room .. ':users',
    room .. ':typing', room .. ':tokens')
  redis.call('ZREM', p .. 'rooms', rid)
end
return {1, left, typing}
"""

_SET_TYPING = """
local p, uid, rid, typing, token, timeout_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local room = p .. 'room:' .. rid
if redis.call('EXISTS', room) == 0 then return 0 end
if typing == '1' then
  redis.call('HSET', room .. ':tokens', uid, token)
  local deadline = now_ms() + tonumber(timeout_ms)
  redis.call('ZADD', p .. 'typing_due', string.format('%.0f', deadline), due_member(rid, uid))
  if redis.call('ZSCORE', room .. ':typing', uid) then return 0 end
  redis.call('ZADD', room .. ':typing', redis.call('INCR', p .. 'seq'), uid)
  redis.call('INCR', p .. 'typing_pairs')
  return 1
end
if redis.call('ZREM', room .. ':typing', uid) == 1 then
  redis.call('HDEL', room .. ':tokens', uid)
  redis.call('ZREM', p .. 'typing_due', due_member(rid, uid))
  redis.call('DECR', p .. 'typing_pairs')
  return 1
end
return 0
"""

_EXPIRE_TYPING = """
local p, uid, rid, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local room = p .. 'room:' .. rid
if redis.call('HGET', room .. ':tokens', uid) ~= token then return 0 end
redis.call('HDEL', room .. ':tokens', uid)
redis.call('ZREM', p .. 'typing_due', due_member(rid, uid))
if redis.call('ZREM', room .. ':typing', uid) == 1 then
  redis.call('DECR', p .. 'typing_pairs')
  return 1
end
return 0
"""

# D18, D34: typing whose deadline passed more than `grace` ms ago (its timer died with its
# node): end it here, once; returns user, room pairs to announce.
_EXPIRE_OVERDUE = """
local p, grace, batch = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local cutoff = string.format('%.0f', now_ms() - grace)
local out = {}
for _, member in ipairs(
  redis.call('ZRANGEBYSCORE', p .. 'typing_due', '-inf', cutoff, 'LIMIT', 0, batch)
) do
  redis.call('ZREM', p .. 'typing_due', member)
  local colon = string.find(member, ':', 1, true)
  local n = tonumber(string.sub(member, 1, colon - 1))
  local rid = string.sub(member, colon + 1, colon + n)
  local uid = string.sub(member, colon + n + 1)
  local room = p .. 'room:' .. rid
  redis.call('HDEL', room .. ':tokens', uid)
  if redis.call('ZREM', room .. ':typing', uid) == 1 then
    redis.call('DECR', p .. 'typing_pairs')
    table.insert(out, uid)
    table.insert(out, rid)
  end
end
return out
"""

# The room's sockets (joining order) other than the user's own.
_OTHERS_IN_ROOM = """
local p, rid, uid = ARGV[1], ARGV[2], ARGV[3]
local own = {}
for _, sid in ipairs(redis.call('ZRANGE', p .. 'user:' .. uid, 0, -1)) do own[sid] = true end
local out = {}
for _, sid in ipairs(redis.call('ZRANGE', p .. 'room:' .. rid .. ':socks', 0, -1)) do
  if not own[sid] then table.insert(out, sid) end
end
return out
"""

_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'last', ARGV[1]) end
return 0
"""

_ROOMS = """
local p = ARGV[1]
local out = {}
for _, rid in ipairs(redis.call('ZRANGE', p .. 'rooms', 0, -1)) do
  local room = p .. 'room:' .. rid
  local times = redis.call('HMGET', room, 'created', 'last')
  if times[1] then
    table.insert(out, rid)
    table.insert(out, redis.call('ZCARD', room .. ':users'))
    table.insert(out, redis.call('ZCARD', room .. ':typing'))
    table.insert(out, times[1])
    table.insert(out, times[2])
  end
end
return out
"""

# D21: a fixed window per user and kind that starts at the first counted event and ends
# when its key expires (Redis's clock, the same for every node); over the limit, no effect.
_RATE_LIMIT = """
local key, limit, window_ms = KEYS[1], tonumber(ARGV[1]), ARGV[2]
local count = redis.call('GET', key)
if not count then
  redis.call('SET', key, 1, 'PX', window_ms)
  return 1
end
if tonumber(count) >= limit then return 0 end
redis.call('INCR', key)
return 1
"""


class RedisStore:
    """The Store over Redis (D33): every node of the cluster sees the same state."""

    def __init__(
        self, client: aioredis.Redis, prefix: str, node_id: str, typing_timeout_ms: int
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.node_id = node_id
        self.typing_timeout_ms = typing_timeout_ms

        # D3 + D34: a socket's identity never changes and its events come to its own node,
        # so this node keeps its own sockets' (from add_socket to remove_socket, or until
        # it finds them gone from Redis: swept while this node was stalled).
        self._own: dict[str, Identity] = {}

        def script(body: str) -> AsyncScript:
            return client.register_script(_HELPERS + body)

        self._add = script(_ADD_SOCKET)
        self._remove = script(_REMOVE_SOCKET)
        self._name = script(_DISPLAY_NAME)
        self._named_users = script(_NAMED_ROOM_USERS)
        self._others = script(_OTHERS_IN_ROOM)
        self._join = script(_JOIN)
        self._leave = script(_LEAVE)
        self._set_typing = script(_SET_TYPING)
        self._expire_typing = script(_EXPIRE_TYPING)
        self._expire_overdue = script(_EXPIRE_OVERDUE)
        self._rooms = script(_ROOMS)
        self._touch = script(_TOUCH)

    def _key(self, name: str) -> str:
        return self.prefix + name

    async def add_socket(self, sid: str, identity: Identity) -> bool:
        first = await self._add(
            args=[self.prefix, sid, identity.user_id, identity.username, self.node_id]
        )
        self._own[sid] = identity
        return bool(first)

    async def remove_socket(self, sid: str) -> tuple[Identity, bool]:
        self._own.pop(sid, None)
        removed = await self._remove(args=[self.prefix, sid])
        if not removed:
            raise KeyError(sid)
        user_id, username, last = removed
        return Identity(user_id=user_id, username=username), bool(int(last))

    async def has_socket(self, sid: str) -> bool:
        if await self.redis.hexists(self._key("sock_user"), sid):
            return True
        self._own.pop(sid, None)  # removed by another node (D34)
        return False

    def forget_own(self) -> None:
        """This node was swept (D34): its sockets are gone from Redis."""
        self._own.clear()

    async def identity(self, sid: str) -> Identity:
        own = self._own.get(sid)
        if own is not None:
            return own
        # Another node's socket (a sweep, D34).
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self._key("sock_user"), sid)
            pipe.hget(self._key("sock_name"), sid)
            user_id, username = await pipe.execute()
        if user_id is None or username is None:
            raise KeyError(sid)
        return Identity(user_id=user_id, username=username)

    async def display_name(self, user_id: str) -> str:
        name = await self._name(args=[self.prefix, user_id])
        if name is None:
            raise KeyError(user_id)
        return str(name)

    async def sockets_of(self, user_id: str) -> list[str]:
        return _strs(await self.redis.zrange(self._key("user:" + user_id), 0, -1))

    async def connected_users(self) -> int:
        return int(await self.redis.scard(self._key("users")))

    async def connected_sockets(self) -> int:
        return int(await self.redis.hlen(self._key("sock_user")))

    async def join(self, sid: str, room_id: str, at: datetime) -> JoinResult:
        socket_was_in, user_was_in, created = await self._join(
            args=[self.prefix, sid, room_id, _ms(at)]
        )
        return JoinResult(
            socket_was_in=bool(socket_was_in),
            user_was_in=bool(user_was_in),
            room_created=bool(created),
        )

    async def leave(self, sid: str, room_id: str, at: datetime) -> LeaveResult:
        socket_was_in, user_left, was_typing = await self._leave(
            args=[self.prefix, sid, room_id, _ms(at)]
        )
        return LeaveResult(
            socket_was_in=bool(socket_was_in),
            user_left=bool(user_left),
            was_typing=bool(was_typing),
        )

    async def rooms_of(self, sid: str) -> list[str]:
        return _strs(await self.redis.zrange(self._key("rooms_of:" + sid), 0, -1))

    async def is_member(self, sid: str, room_id: str) -> bool:
        return await self.redis.zscore(self._key("rooms_of:" + sid), room_id) is not None

    async def room_sockets(self, room_id: str) -> list[str]:
        return _strs(await self.redis.zrange(self._key(f"room:{room_id}:socks"), 0, -1))

    async def room_users(self, room_id: str) -> list[str]:
        return _strs(await self.redis.zrange(self._key(f"room:{room_id}:users"), 0, -1))

    async def named_room_users(self, room_id: str) -> list[tuple[str, str]]:
        flat = _strs(await self._named_users(args=[self.prefix, room_id]))
        return list(zip(flat[0::2], flat[1::2], strict=True))

    async def others_in_room(self, room_id: str, user_id: str) -> list[str]:
        return _strs(await self._others(args=[self.prefix, room_id, user_id]))

    async def touch(self, room_id: str, at: datetime) -> None:
        # Only a room that exists (a room removed meanwhile stays removed).
        await self._touch(keys=[self._key("room:" + room_id)], args=[_ms(at)])

    async def set_typing(self, user_id: str, room_id: str, typing: bool, token: str = "") -> bool:
        flag = "1" if typing else "0"
        changed = await self._set_typing(
            args=[self.prefix, user_id, room_id, flag, token, self.typing_timeout_ms]
        )
        return bool(changed)

    async def expire_typing(self, user_id: str, room_id: str, token: str) -> bool:
        return bool(await self._expire_typing(args=[self.prefix, user_id, room_id, token]))

    async def expire_overdue_typing(self, grace_ms: int) -> list[tuple[str, str]]:
        """End the typing whose deadline passed more than grace_ms ago, whichever node's
        timer should have ended it (D18, D34); (user, room) of each, ended here once."""
        flat = _strs(await self._expire_overdue(args=[self.prefix, grace_ms, _OVERDUE_BATCH]))
        return list(zip(flat[0::2], flat[1::2], strict=True))

    async def typing_users(self, room_id: str) -> list[str]:
        return _strs(await self.redis.zrange(self._key(f"room:{room_id}:typing"), 0, -1))

    async def typing_pairs(self) -> int:
        return int(await self.redis.get(self._key("typing_pairs")) or 0)

    async def rooms(self) -> list[RoomDetail]:
        flat = await self._rooms(args=[self.prefix])
        return [
            RoomDetail(
                room_id=flat[i],
                user_count=int(flat[i + 1]),
                typing_users=int(flat[i + 2]),
                created_at=_at(flat[i + 3]),
                last_activity=_at(flat[i + 4]),
            )
            for i in range(0, len(flat), 5)
        ]

    async def node_sockets(self, node_id: str) -> list[str]:
        return _strs(await self.redis.smembers(self._key(f"node:{node_id}:socks")))


class RedisCounters:
    """The cumulative figures of /websocket/stats, cluster-wide (D24, D33)."""

    def __init__(self, client: aioredis.Redis, prefix: str, enabled: bool) -> None:
        self.redis = client
        self.key = prefix + "counters"
        self.enabled = enabled

    async def add(self, name: Counter) -> None:
        if self.enabled:
            await self.redis.hincrby(self.key, name, 1)

    async def figures(self) -> dict[Counter, int]:
        values = await self.redis.hmget(self.key, list(COUNTER_NAMES))
        return {name: int(v or 0) for name, v in zip(COUNTER_NAMES, values, strict=True)}


class RedisRateLimiter:
    """D21 per user and kind, shared by all the user's sockets on all nodes (D33)."""

    def __init__(self, client: aioredis.Redis, prefix: str, limits: Limits, window_ms: int) -> None:
        self.redis = client
        self.prefix = prefix + "rl:"
        self.limits = limits
        self.window_ms = window_ms
        self._count = client.register_script(_RATE_LIMIT)

    async def admit(self, user_id: str, kind: Kind) -> bool:
        key = f"{self.prefix}{kind}:{user_id}"
        return bool(await self._count(keys=[key], args=[self.limits.of(kind), self.window_ms]))


Disconnect = Callable[[str, str], Awaitable[None]]
TypingEnded = Callable[[str, str], Awaitable[None]]


class ClusterNode:
    """This node's membership of the cluster (D34): lease, sweep of lost nodes, and the
    typing timeouts whose timers were lost with a node (D18)."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        node_id: str,
        store: RedisStore,
        *,
        ttl_ms: int,
        renew_ms: int,
        check_ms: int,
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.node_id = node_id
        self.store = store
        self.ttl_ms = ttl_ms
        self.renew_s = renew_ms / 1000
        self.check_ms = check_ms
        self._tasks: list[asyncio.Task[None]] = []

    def _key(self, name: str) -> str:
        return self.prefix + name

    async def start(
        self,
        disconnect: Disconnect,
        drop_local: Callable[[], Awaitable[None]],
        typing_ended: TypingEnded,
    ) -> None:
        await self._renew()
        self._tasks = [
            asyncio.create_task(self._renew_forever(drop_local)),
            asyncio.create_task(self._watch_forever(disconnect, typing_ended)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # A clean stop: its sockets were disconnected (departures sent), so leave now.
        with contextlib.suppress(Exception):
            await self.redis.delete(self._key(f"node:{self.node_id}"))
            await self.redis.srem(self._key("nodes"), self.node_id)

    async def _renew(self) -> bool:
        """Renew the lease; False when this node had been given up for lost."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sismember(self._key("nodes"), self.node_id)
            pipe.set(self._key(f"node:{self.node_id}"), "1", px=self.ttl_ms)
            pipe.sadd(self._key("nodes"), self.node_id)
            registered, _, _ = await pipe.execute()
        return bool(registered)

    async def _renew_forever(self, drop_local: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(self.renew_s)
            try:
                if not await self._renew():
                    # Another node swept this one (its lease lapsed: a stall, a partition):
                    # its sockets are gone from the shared state, so close them here too;
                    # their clients reconnect as new sockets.
                    log.warning("node %s was given up for lost; closing its sockets", self.node_id)
                    self.store.forget_own()
                    await drop_local()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("renewing the lease of node %s failed", self.node_id)

    async def _watch_forever(self, disconnect: Disconnect, typing_ended: TypingEnded) -> None:
        while True:
            await asyncio.sleep(self.check_ms / 1000)
            try:
                await self.sweep(disconnect)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("checking the other nodes' leases failed")
            try:
                await self.end_overdue_typing(typing_ended)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ending overdue typing failed")

    async def end_overdue_typing(self, typing_ended: TypingEnded) -> None:
        """D18 + D34: a typing timeout whose timer is gone (its node was lost, or is stalled
        past a check interval) ends here; the script hands each one to one node only."""
        for user_id, room_id in await self.store.expire_overdue_typing(self.check_ms):
            await typing_ended(user_id, room_id)

    async def sweep(self, disconnect: Disconnect) -> None:
        """For each registered node whose lease is gone, exactly one survivor (an NX lock)
        disconnects its sockets: the departures they would have caused are emitted."""
        for node in _strs(await self.redis.smembers(self._key("nodes"))):
            if node == self.node_id or await self.redis.exists(self._key(f"node:{node}")):
                continue
            lock = self._key(f"sweep:{node}")
            if not await self.redis.set(lock, self.node_id, nx=True, px=_SWEEP_LOCK_MS):
                continue  # another survivor is on it
            sids = await self.store.node_sockets(node)
            log.warning("node %s lost (lease expired): removing its %d sockets", node, len(sids))
            for sid in sids:
                await disconnect(sid, "node lost")
            await self.redis.delete(self._key(f"node:{node}:socks"))
            await self.redis.srem(self._key("nodes"), node)


class Cluster:
    """What a node needs to be a cluster member: one Redis client, the shared state, the
    client manager and the lease."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.node_id = uuid.uuid4().hex[:12]
        namespace = settings.namespace
        prefix = f"chatrooms:{namespace}:"
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=_POOL_SIZE, timeout=_POOL_WAIT_S, decode_responses=True
        )
        self.redis = aioredis.Redis.from_pool(pool)
        self.store = RedisStore(self.redis, prefix, self.node_id, settings.typing_timeout_ms)
        self.counters = RedisCounters(self.redis, prefix, settings.enable_metrics)
        self.limiter = RedisRateLimiter(
            self.redis, prefix, settings.limits, settings.rate_limit_window_ms
        )
        self.node = ClusterNode(
            self.redis,
            prefix,
            self.node_id,
            self.store,
            ttl_ms=settings.lease_ttl_ms,
            renew_ms=settings.lease_renew_ms,
            check_ms=settings.lease_check_ms,
        )
        self.manager = socketio.AsyncRedisManager(url, channel=f"chatrooms:{namespace}")

    def describe(self) -> str:
        return f"cluster node {self.node_id} via {redacted(self.url)}"

    async def start(
        self,
        sio: socketio.AsyncServer,
        disconnect: Disconnect,
        drop_local: Callable[[], Awaitable[None]],
        typing_ended: TypingEnded,
    ) -> None:
        await self.redis.ping()  # fail at start-up, not at the first client
        # Listen before the first client: an emit from another node must not be missed
        # while this node's subscription is still on its way.
        if not sio.manager_initialized:
            sio.manager_initialized = True
            sio.manager.initialize()
        for _ in range(200):
            pubsub = getattr(self.manager, "pubsub", None)
            if pubsub is not None and pubsub.subscribed:
                break
            await asyncio.sleep(0.01)
        await self.node.start(disconnect, drop_local, typing_ended)

    async def stop(self) -> None:
        await self.node.stop()
        await self.redis.aclose()
