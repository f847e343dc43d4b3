"""The command-line options the scenarios add to Locust's parser. Pure (no Locust import),
so the runner reads the same options to plan rate limits before Locust starts."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

# Scenario names (the runner's first argument) -> locustfile module in chatrooms_load.
SCENARIOS = {
    "steady-chat": "steady_chat",
    "fan-out": "fan_out",
    "churn": "churn",
    "typing-storm": "typing_storm",
    "limits": "limits",
}


@dataclass(frozen=True)
class Workload:
    """What one scenario asks of each user, for planning against per-user rate limits."""

    messages_per_s: float  # per sending user
    joins_per_s: float
    typing_per_s: float


def add_options(parser: Any) -> None:
    """Add the chat options to Locust's parser (configargparse) or a plain argparse one."""
    group = parser.add_argument_group("chat load (chatrooms_load)")
    add = group.add_argument
    add(
        "--secret",
        default=None,
        help="HS256 secret to mint tokens with "
        "(default: the reference server's development secret)",
    )
    add(
        "--token-cmd",
        default=None,
        metavar="CMD",
        help="command printing a token; {user_id} and {username} are replaced (shell syntax)",
    )
    add("--namespace", default="/chat", help="Socket.IO namespace (default /chat)")
    add("--rooms", type=int, default=None, help="rooms to spread users over (per scenario)")
    add("--senders", type=int, default=None, help="fan-out: sending users (the rest listen)")
    add(
        "--message-rate",
        type=float,
        default=None,
        help="messages per second per sending user (per scenario)",
    )
    add("--message-size", type=int, default=0, help="pad message content to this many chars")
    add("--typing-rate", type=float, default=None, help="typing-storm: typing events/s per user")
    add(
        "--cycle-rate", type=float, default=None, help="churn: connect-join-leave cycles/s per user"
    )
    add("--dwell", type=float, default=None, help="churn: seconds in the room per cycle")
    add(
        "--fanout-clock",
        choices=["wall", "echo"],
        default="wall",
        help="wall: every receiver compares the sender's send time with its own clock (one "
        "machine or synced clocks); echo: only the sender's own receiveMessage (clock-free)",
    )
    add(
        "--rx-timestamps",
        choices=["kernel", "user"],
        default="kernel",
        help="kernel: receive time from SO_TIMESTAMPNS (not inflated by the generator's own "
        "queueing); user: time.time() when the client reads the data",
    )
    add("--summary-json", default=None, metavar="PATH", help="write the end summary as JSON")
    # Set by chatrooms-load, which prints the summary itself after Locust's tables.
    add("--rate-note", default=None, help=argparse.SUPPRESS)
    add("--summary-quiet", action="store_true", default=False, help=argparse.SUPPRESS)
    thresholds = parser.add_argument_group("thresholds (checked at the end; exit code 1 if missed)")
    tadd = thresholds.add_argument
    tadd(
        "--min-deliveries-per-s",
        type=float,
        default=None,
        help="minimum receiveMessage deliveries per second (steady part of the run)",
    )
    tadd("--max-fanout-p95-ms", type=float, default=None, help="maximum fan-out latency p95")
    tadd("--max-fanout-p99-ms", type=float, default=None, help="maximum fan-out latency p99")
    tadd(
        "--max-error-ratio",
        type=float,
        default=None,
        help="maximum failed share of connects, client events and disconnects (0-1)",
    )
    tadd(
        "--fail-on-saturation",
        action="store_true",
        default=False,
        help="exit 1 when the generator itself was saturated",
    )


@dataclass(frozen=True)
class ScenarioDefaults:
    users: int
    spawn_rate: float
    run_time: str
    rooms: int
    senders: int | None
    message_rate: float
    typing_rate: float
    cycle_rate: float
    dwell: float


DEFAULTS: dict[str, ScenarioDefaults] = {
    # 0.5 msg/s per user = 30 per 60 s, half the development allowance (D21): no 429s.
    "steady-chat": ScenarioDefaults(50, 25, "20s", 5, None, 0.5, 0.0, 0.0, 0.0),
    # A few fast senders need a short window: 10 msg/s is 600 per 60 s.
    "fan-out": ScenarioDefaults(50, 25, "20s", 1, 5, 10.0, 0.0, 0.0, 0.0),
    # 0.2 cycles/s = 12 joins per 60 s, inside the 20 joins of development.
    "churn": ScenarioDefaults(50, 25, "20s", 5, None, 0.0, 0.0, 0.2, 2.0),
    # typing on/off bursts: 4 typing events and 1 message per burst.
    "typing-storm": ScenarioDefaults(50, 25, "20s", 5, None, 0.0, 2.0, 0.0, 0.0),
    "limits": ScenarioDefaults(10, 10, "15s", 10, None, 0.0, 0.0, 0.0, 0.0),
}


def workload(scenario: str, options: Any) -> Workload:
    """The per-user rates a scenario will run at with these options."""
    d = DEFAULTS[scenario]
    message_rate = _pick(options, "message_rate", d.message_rate)
    if scenario == "churn":
        cycle = _pick(options, "cycle_rate", d.cycle_rate)
        return Workload(messages_per_s=cycle, joins_per_s=cycle, typing_per_s=0.0)
    if scenario == "typing-storm":
        # One message per burst of four typing events (typing_storm.BURST).
        typing = _pick(options, "typing_rate", d.typing_rate)
        return Workload(typing / 4, 0.0, typing)
    return Workload(message_rate, 0.0, 0.0)


def _pick(options: Any, name: str, default: float) -> float:
    value = getattr(options, name, None)
    return float(default if value is None else value)
