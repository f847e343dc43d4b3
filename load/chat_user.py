# mypy: disable-error-code="untyped-decorator,no-untyped-call"
# (Locust's event hooks and gevent's AsyncResult carry no annotations.)
"""ChatUser: the Locust user every scenario builds on, and the listeners that count,
summarize and check thresholds.

What reaches Locust's statistics (request type / name):
  WS / connect                 handshake + Socket.IO CONNECT with the user's own token
  EVENT / <clientEvent>        each client event, from send to its response (D6: the ack,
                               or the emitted response event when a server answers so)
  RECV / receiveMessage        fan-out latency at each receiver (send time in the content)
  WS / disconnect              failures only: a session the server or network ended
Failures carry the status code ("429 Too Many Requests"), so Locust's error table is
the errors-by-code table. The end summary (deliveries/s, fan-out percentiles, connect p95,
errors by code, generator CPU, saturation) comes from chatrooms_load.summary.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
from locust import User, events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from chatrooms_fixtures.configuration import STATUS_PHRASES
from chatrooms_fixtures.tokens import (  # imported here: a first import stalls the hub
    TokenCommandError,
    mint,
    token_from_command,
)
from chatrooms_load.client import ChatConnection, ConnectFailed, Response, read_stats
from chatrooms_load.latency import (
    OBSERVER_SENDER,
    PROBE_TAG,
    Histogram,
    Second,
    bucket_us,
    encode_probe,
)
from chatrooms_load.options import add_options
from chatrooms_load.ratelimits import DEVELOPMENT, RateLimits
from chatrooms_load.summary import CpuReport, Tally, format_summary, summarize
from chatrooms_load.thresholds import Thresholds, check, format_breaches

log = logging.getLogger("chatrooms_load")

# Messages sent this far apart arrived this far apart; read under one kernel timestamp,
# the older was dated late by about as much (see ChatUser._on_event). The self-check's
# tolerance: lateness below it does not count.
LATE_GAP_S = 0.005
PROBE_PREFIX = PROBE_TAG + " "


class ChatError(Exception):
    """A failure as Locust's error table shows it: status code and phrase first."""


class RecvStats:
    """`RECV receiveMessage` for Locust's statistics, handed over once a second.

    Firing Locust's request event per delivery cost ~20 % of the receive path's CPU at
    30,000 deliveries/s (the event hook, RequestStats.log_request and two StatsEntry.log
    calls each; benchmarks/README.md, the profile). Deliveries are counted here by
    latency bucket (bucket_us) and added to the same two StatsEntry objects that
    log_request() updates, with the same fields, once a second and at the end (flush):
    Locust's tables, CSV files, HTML report and worker reports read the same numbers,
    a second later at most. Listeners of Locust's request event no longer see each
    delivery. Written against Locust 2.x's StatsEntry (tests/load/test_summary.py pins
    it).
    """

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}  # bucket_us key -> deliveries
        self.length = 0

    def flush(self, environment: Environment | None) -> None:
        if not self.counts or environment is None or environment.stats is None:
            return
        counts, self.counts = self.counts, {}
        length, self.length = self.length, 0
        stats = environment.stats
        for entry in (stats.get("receiveMessage", "RECV"), stats.total):
            log_batch(entry, counts, length, time.time())


def log_batch(entry: Any, counts: dict[int, int], length: int, now: float) -> None:
    """What `count` calls of StatsEntry.log(key / 1000 ms, ...) would do, at once."""
    from locust.stats import bucket_response_time

    n = sum(counts.values())
    t = int(now)
    if (
        entry.use_response_times_cache
        and entry.last_request_timestamp
        and t > int(entry.last_request_timestamp)
    ):
        entry._cache_response_times(t - 1)
    entry.num_requests += n
    entry.num_reqs_per_sec[t] += n
    entry.last_request_timestamp = now
    low, high = max(min(counts), 0) / 1000, max(max(counts), 0) / 1000
    entry.min_response_time = (
        low if entry.min_response_time is None else min(entry.min_response_time, low)
    )
    entry.max_response_time = max(entry.max_response_time, high)
    for key, count in counts.items():
        ms = max(key, 0) / 1000
        entry.total_response_time += ms * count
        entry.response_times[bucket_response_time(ms)] += count
    entry.total_content_length += length


class Run:
    """Everything one generator process knows about the run."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.environment: Environment | None = None
        self.prefix = f"load-{random.getrandbits(24):06x}"
        self.users = itertools.count()
        self.limits: RateLimits | None = None
        self.limits_source = ""
        self.steady_from: int | None = None
        self.steady_to: int | None = None
        self.cpu_seconds: dict[int, list[float]] = {}  # second -> [cpu_s]
        self.lag: dict[int, Histogram] = {}  # second -> hub lag samples (ms)
        self.worker_cpu: dict[str, dict[str, Any]] = {}  # master: latest per worker
        self.monitor: gevent.Greenlet | None = None
        self.scenario = "chat"
        self.recv = RecvStats()
        self.wall_clock = True  # --fanout-clock wall: every receiver times every message

    @property
    def options(self) -> Any:
        assert self.environment is not None
        return self.environment.parsed_options

    def token_for(self, user_id: str) -> str:
        options = self.options
        if options is not None and options.token_cmd:
            try:
                return token_from_command(options.token_cmd, user_id, user_id)
            except TokenCommandError as error:
                raise ChatError(str(error)) from None
        secret = getattr(options, "secret", None)
        return mint(user_id, user_id) if secret is None else mint(user_id, user_id, secret=secret)

    def rate_limits(self) -> RateLimits:
        """D22: read the limits in force from /websocket/health once per process."""
        if self.limits is None:
            host = node_urls(self.environment.host if self.environment else None)[0]
            try:
                with urllib.request.urlopen(host.rstrip("/") + "/websocket/health", timeout=5) as r:
                    self.limits = RateLimits.from_health(json.load(r))
                    self.limits_source = "GET /websocket/health"
            except (OSError, ValueError):
                self.limits = None
            if self.limits is None:
                self.limits = DEVELOPMENT
                self.limits_source = "assumed (no /websocket/health): development limits"
        return self.limits

    # -- the generator's own CPU and hub lag ------------------------------------------

    def start_monitor(self) -> None:
        if self.monitor is None:
            self.monitor = gevent.spawn(self._monitor)

    def _monitor(self) -> None:
        last_cpu, last_second = time.process_time(), int(time.time())
        while True:
            # A random nap (0.05-0.15 s, 0.1 on average), so a periodic load on the hub
            # cannot hide between the samples.
            nap = random.uniform(0.05, 0.15)
            asked = time.perf_counter()
            gevent.sleep(nap)
            now = time.time()
            lag_ms = (time.perf_counter() - asked - nap) * 1000
            second = int(now)
            self.lag.setdefault(second, Histogram()).record(max(lag_ms, 0.0))
            if second != last_second:
                self.recv.flush(self.environment)
                cpu = time.process_time()
                self.cpu_seconds[last_second] = [cpu - last_cpu]
                last_cpu, last_second = cpu, second

    def cpu_wire(self) -> dict[str, Any]:
        return {
            "cpu": {str(k): v[0] for k, v in self.cpu_seconds.items()},
            "lag": {str(k): h.to_wire() for k, h in self.lag.items()},
        }

    def cpu_report(self, process: str, wire: dict[str, Any]) -> CpuReport | None:
        cpu = {int(k): float(v) for k, v in wire["cpu"].items()}
        seconds = sorted(cpu)
        if self.steady_from is not None and self.steady_to is not None:
            steady = [s for s in seconds if self.steady_from <= s and s + 1 <= self.steady_to]
            seconds = steady or seconds
        if not seconds:
            return None
        lag = Histogram()
        for s in seconds:
            if str(s) in wire["lag"]:
                lag.merge(Histogram.from_wire(wire["lag"][str(s)]))
        return CpuReport(
            process,
            sum(cpu[s] for s in seconds),
            float(len(seconds)),
            lag.percentile(0.99),
        )


RUN = Run()


# -- listeners ---------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    add_options(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    RUN.environment = environment
    if isinstance(environment.runner, WorkerRunner):
        environment.events.report_to_master.add_listener(_report_to_master)
    if isinstance(environment.runner, MasterRunner):
        environment.events.worker_report.add_listener(_worker_report)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    RUN.steady_from = RUN.steady_to = None
    RUN.wall_clock = getattr(environment.parsed_options, "fanout_clock", "wall") == "wall"
    if not isinstance(environment.runner, MasterRunner):
        RUN.start_monitor()
        RUN.rate_limits()
    else:
        limits = RUN.rate_limits()
        log.info("rate limits in force (%s): %s", RUN.limits_source, limits.describe())


@events.spawning_complete.add_listener
def _on_spawning_complete(user_count: int, **_: Any) -> None:
    # The steady part starts at the first whole second after every user is running.
    RUN.steady_from = int(time.time()) + 1


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    RUN.steady_to = int(time.time())
    RUN.recv.flush(environment)


def _report_to_master(client_id: str, data: dict[str, Any]) -> None:
    RUN.recv.flush(RUN.environment)
    RUN.tally.add_reads(read_stats().drain())
    data["chat"] = {"tally": RUN.tally.drain().to_wire(), "cpu": RUN.cpu_wire()}


def _worker_report(client_id: str, data: dict[str, Any]) -> None:
    chat = data.get("chat")
    if chat is None:
        return
    RUN.tally.merge(Tally.from_wire(chat["tally"]))
    RUN.worker_cpu[client_id] = chat["cpu"]


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner) or RUN.environment is None:
        return
    if RUN.steady_to is None:
        RUN.steady_to = int(time.time())
    RUN.tally.add_reads(read_stats().drain())
    reports: list[CpuReport | None]
    if isinstance(runner, MasterRunner):
        reports = [
            RUN.cpu_report(f"worker {runner.get_worker_index(cid)}", wire)
            for cid, wire in sorted(RUN.worker_cpu.items())
        ]
    else:
        reports = [RUN.cpu_report("local", RUN.cpu_wire())]
    options = environment.parsed_options
    notes = []
    if options is not None and options.rate_note:
        notes.append(options.rate_note)
    if RUN.limits is not None:
        notes.append(f"limits in force ({RUN.limits_source}): {RUN.limits.describe()}")
    notes.append(
        f"fan-out clock {getattr(options, 'fanout_clock', 'wall')}, receive timestamps "
        f"{getattr(options, 'rx_timestamps', 'kernel')}"
    )
    summary = summarize(
        RUN.scenario,
        RUN.tally,
        [r for r in reports if r is not None],
        steady_from=RUN.steady_from,
        steady_to=RUN.steady_to,
        notes=notes,
        user_timestamps=getattr(options, "rx_timestamps", "kernel") == "user",
    )
    thresholds = Thresholds.from_options(options)
    breaches = check(summary, thresholds)
    text = format_summary(summary) + "\n" + format_breaches(breaches, thresholds)
    if options is None or not options.summary_quiet:
        print(text, flush=True)
    if options is not None and options.summary_json:
        payload = {**summary.to_json(), "text": text, "breaches": [b.message for b in breaches]}
        with open(options.summary_json, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=2)
    if breaches:
        environment.process_exit_code = 1


# -- the user ----------------------------------------------------------------------------


class ChatUser(User):
    """One simulated person: one token (distinct `sub`), one Socket.IO connection."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.index = next(RUN.users)
        self.user_id = f"{RUN.prefix}-{self.index}"
        self.conn: ChatConnection | None = None
        self.seq = 0
        self._fire = environment.events.request.fire
        self._next_at = 0.0
        self._last_received = self._last_sent = 0.0
        self.rooms: set[str] = set()  # rooms this user joined and has not left
        self.home_rooms = 1  # how many rooms the scenario spreads its users over

    # -- options -------------------------------------------------------------------

    def option(self, name: str, default: Any) -> Any:
        value = getattr(RUN.options, name, None)
        return default if value is None else value

    def room_for(self, index: int, rooms: int) -> str:
        """The room of user `index` among `rooms`; the nodes are then spread within each
        room (node_of), so that deliveries cross nodes (D33)."""
        self.home_rooms = max(rooms, 1)
        return f"load-room-{index % self.home_rooms}"

    def pace(self, rate: float) -> float:
        """Seconds to wait so this user runs its task `rate` times a second, without
        bursts to catch up after a late start (wait_time for a steady rate).

        A task that ran late keeps its schedule (the next one is due a period after the
        one before) unless it is more than two periods behind. The earlier rule moved the
        schedule to now as soon as the next due time had passed (a task over a period
        late: 11 ms at 90 messages/s), so the users that one stall of the hub woke late
        together sent together from then on: the senders of a room fell into step and
        their messages queued behind each other at the server. The self-check's send side
        disagreed at fan-out 90,000 deliveries/s in 4 runs of 5, 3 of them with the
        harness's messages ~1.5 ms slower at p50 than the observer's own probes; with the
        schedule kept, 5 of 5 agreed. A user more than two periods behind starts afresh:
        one task at once, no burst to catch up.
        """
        now = time.monotonic()
        period = 1.0 / rate if rate > 0 else 3600.0
        self._next_at += period
        if self._next_at < now - period:
            self._next_at = now
        return max(self._next_at - now, 0.0)

    def stagger(self, rate: float) -> None:
        """Wait a random part of one period, so users spawned together do not send
        together (call at the end of on_start)."""
        if rate > 0:
            gevent.sleep(random.uniform(0, 1.0 / rate))
        self._next_at = time.monotonic()

    # -- connection ----------------------------------------------------------------

    def connect(self) -> bool:
        """Connect with this user's token; report it as WS connect. False on failure."""
        options = RUN.options
        RUN.tally.attempts += 1
        started = time.time()
        try:
            token = RUN.token_for(self.user_id)
            nodes = node_urls(self.host)
            conn = ChatConnection(
                nodes[node_of(self.index, self.home_rooms, len(nodes))],
                token=token,
                namespace=getattr(options, "namespace", "/chat"),
                on_event=self._on_event,
                on_close=self._on_close,
                kernel_timestamps=getattr(options, "rx_timestamps", "kernel") == "kernel",
            )
            conn.connect()
        except (ConnectFailed, ChatError, OSError, ValueError, subprocess.SubprocessError) as error:
            status = getattr(error, "status", None)
            code = str(status) if status else "connect"
            RUN.tally.error(code)
            self._fire(
                request_type="WS",
                name="connect",
                response_time=(time.time() - started) * 1000,
                response_length=0,
                exception=ChatError(_describe(status, str(error))),
                context={},
            )
            return False
        elapsed = (time.time() - started) * 1000
        RUN.tally.connect.record(elapsed)
        RUN.tally.timeline.connected(time.time())
        self._fire(
            request_type="WS",
            name="connect",
            response_time=elapsed,
            response_length=0,
            exception=None,
            context={},
        )
        self.conn = conn
        return True

    def disconnect(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and conn.connected:
            RUN.tally.client_disconnects += 1
            self._left_all()
            conn.close()

    def _left_all(self) -> None:
        now = time.time()
        for room in sorted(self.rooms):
            RUN.tally.membership.append((now, room, -1))
        self.rooms.clear()

    def _membership(self, event: str, payload: Any, response: Response | None) -> None:
        """Keep who is in which room (for the self-check's probe counts)."""
        if response is None or response.status is not None or not isinstance(payload, dict):
            return
        room = payload.get("roomId")
        if not isinstance(room, str):
            return
        if event == "joinRoom" and room not in self.rooms:
            self.rooms.add(room)
            RUN.tally.membership.append((response.received_at, room, 1))
        elif event == "leaveRoom" and room in self.rooms:
            self.rooms.discard(room)
            RUN.tally.membership.append((response.received_at, room, -1))

    def on_stop(self) -> None:
        self.disconnect()

    # -- client events -------------------------------------------------------------

    def emit(
        self,
        event: str,
        payload: Any,
        *,
        expect: frozenset[int] = frozenset(),
        then: Callable[[Response | None], None] | None = None,
    ) -> None:
        """Send a client event without waiting; its response time reaches Locust when the
        response arrives. Statuses in `expect` count as successes of the scenario."""
        conn = self.conn
        if conn is None:
            return
        RUN.tally.attempts += 1

        def answered(response: Response | None) -> None:
            self._record(event, response, expect)
            if event in ("joinRoom", "leaveRoom"):
                self._membership(event, payload, response)
            if then is not None:
                then(response)

        try:
            conn.emit(event, payload, answered)
        except OSError as error:
            RUN.tally.error("disconnect")
            self._fire(
                request_type="EVENT",
                name=event,
                response_time=0,
                response_length=0,
                exception=ChatError(f"send failed: {error}"),
                context={},
            )

    def request(
        self, event: str, payload: Any, *, expect: frozenset[int] = frozenset()
    ) -> Response | None:
        """Send a client event and wait for its response (None when there was none)."""
        result: gevent.event.AsyncResult = gevent.event.AsyncResult()
        self.emit(event, payload, expect=expect, then=result.set)
        if self.conn is None:
            return None
        try:
            response = result.get(timeout=self.conn.request_timeout_s + 1)
        except gevent.Timeout:
            return None
        return response if isinstance(response, Response) else None

    def _record(self, event: str, response: Response | None, expect: frozenset[int]) -> None:
        if response is None:
            RUN.tally.error("timeout")
            self._fire(
                request_type="EVENT",
                name=event,
                response_time=0,
                response_length=0,
                exception=ChatError("no response (timeout or disconnect)"),
                context={},
            )
            return
        status = response.status
        name = event
        exception = None
        if status is not None:
            if status in expect:
                name = f"{event} ({status} expected)"
            else:
                RUN.tally.error(str(status))
                exception = ChatError(_describe(status, ""))
        self._fire(
            request_type="EVENT",
            name=name,
            response_time=response.elapsed_ms,
            response_length=0,
            exception=exception,
            context={},
        )

    def send_message(
        self,
        room: str,
        *,
        expect: frozenset[int] = frozenset(),
        then: Callable[[int, Response | None], None] | None = None,
    ) -> int:
        """sendMessage with the probe in its content; returns the message's seq."""
        self.seq += 1
        seq = self.seq
        size = int(self.option("message_size", 0))
        content = encode_probe(time.time(), self.user_id, seq, size)
        callback = None if then is None else (lambda response: then(seq, response))
        self.emit("sendMessage", {"roomId": room, "content": content}, expect=expect, then=callback)
        return seq

    # -- server events -------------------------------------------------------------

    def _on_event(self, name: str, data: Any, received_at: float) -> None:
        # Per delivery: keep it lean (benchmarks/README.md, the receive path's profile);
        # decode_probe, bucket_us and Timeline.delivery_key are inlined here.
        if name != "receiveMessage":
            RUN.tally.events[name] += 1
            return
        content = data.get("content") if type(data) is dict else None
        tally = RUN.tally
        try:
            if type(content) is not str or not content.startswith(PROBE_PREFIX):
                raise ValueError
            _, stamp, sender, number = content.split(" ", 4)[:4]
            sent_at = float(stamp)
            seq = int(number)
        except ValueError:
            tally.events["receiveMessage (not from the harness)"] += 1
            return
        if sender == OBSERVER_SENDER:
            # The self-check's probe: stamped by the observer's clock, timed here by ours.
            tally.probe(seq, (received_at - sent_at) * 1000)
            return
        own = sender == self.user_id
        if received_at == self._last_received and sent_at - self._last_sent > LATE_GAP_S:
            # Two messages sent apart arrived under one kernel timestamp: the kernel merged
            # the newer into the older while that one waited unread, and stamped both
            # with the newer's arrival. The older was dated late: the generator fell behind.
            tally.late_deliveries += 1
        self._last_received, self._last_sent = received_at, sent_at
        tally.deliveries += 1
        tally.sent_deliveries[(int(sent_at), data["roomId"] if "roomId" in data else None)] += 1
        seconds = tally.timeline.seconds
        second = seconds.get(int(received_at))
        if second is None:
            second = seconds[int(received_at)] = Second()
        second.deliveries += 1
        if own or RUN.wall_clock:
            us = round((received_at - sent_at) * 1000 * 1000)
            if 0 <= us < 1000:
                key = us
            elif 1000 <= us < 10_000:
                key = round(us / 10) * 10
            else:
                key = bucket_us((received_at - sent_at) * 1000)
            latency = second.latency
            latency.counts[key] = latency.counts.get(key, 0) + 1
            latency.total += 1
            tally.timed += 1
            recv = RUN.recv
            recv.counts[key] = recv.counts.get(key, 0) + 1
            recv.length += len(content)
        if own:
            self.on_own_message(seq)

    def on_own_message(self, seq: int) -> None:
        """Hook for scenarios that follow their own messages (limits)."""

    def _on_close(self, reason: str) -> None:
        # Called only for sessions the harness did not end itself.
        RUN.tally.disconnects += 1
        self._left_all()
        RUN.tally.error("disconnect")
        self._fire(
            request_type="WS",
            name="disconnect",
            response_time=0,
            response_length=0,
            exception=ChatError(f"disconnected: {reason}"),
            context={},
        )
        self.conn = None


def _describe(status: int | None, detail: str) -> str:
    if status:
        phrase = STATUS_PHRASES.get(status, "")
        return f"{status} {phrase}".strip()
    return detail or "failed"


def node_of(index: int, rooms: int, nodes: int) -> int:
    """The node of user `index` when user n sits in room n mod rooms: consecutive members
    of one room go to consecutive nodes, whatever the number of rooms. (n mod nodes alone
    put every member of a room on one node whenever rooms and nodes share a factor, and
    no delivery crossed the nodes.)"""
    return (index % rooms + index // rooms) % nodes


def node_urls(host: str | None) -> list[str]:
    """The nodes of one logical server, as -H/--host names them (comma-separated)."""
    return [u.strip() for u in (host or "").split(",") if u.strip()] or [""]


def set_scenario(name: str) -> None:
    """Name the scenario in the summary (each locustfile calls this once)."""
    RUN.scenario = name
