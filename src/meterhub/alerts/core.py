"""The pure core of alerting: one state machine per (rule, device), no I/O.

A rule fires when its metric's value is on the wrong side of `threshold` (`op` ">" or
"<") for at least `for_s` seconds, and clears only once the value is back past
`clear_threshold` (the hysteresis band; `threshold` itself when unset) for the same
`for_s`. A value inside the band keeps whatever state the alert is in, so a signal that
wobbles around the threshold opens one alert, not one per wobble.

Time is the readings' own time (epoch seconds), so replaying committed readings after a
restart gives the same decisions as seeing them live. A reading older than the newest one
seen is history, not the present: it never moves the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

Metric = Literal[
    "voltage",
    "current",
    "power",
    "pf",
    "frequency",
    "energy_day_kwh",
    "offline",
    "meter_alarm",
    "counter_reset",
]
METRICS: Final[tuple[str, ...]] = get_args(Metric)
READING_METRICS: Final = frozenset({"voltage", "current", "power", "pf", "frequency"})
FLAG_METRICS: Final = frozenset({"offline", "meter_alarm", "counter_reset"})
"""Metrics whose value is 1 (condition holds) or 0: the threshold is fixed at 0.5."""
Severity = Literal["critical", "major", "minor", "warning"]
SEVERITIES: Final[tuple[str, ...]] = get_args(Severity)
UNITS: Final[dict[str, str]] = {
    "voltage": "V",
    "current": "A",
    "power": "W",
    "pf": "",
    "frequency": "Hz",
    "energy_day_kwh": "kWh",
}

CHANNEL_KINDS: Final = ("webhook", "email", "ntfy", "mqtt")
MQTT_TOPIC_PREFIX: Final = "meterhub/alerts/"
"""MQTT channels publish only below this prefix: a rule must never reach device topics."""

Transition = Literal["open", "resolve"]


@dataclass(frozen=True, slots=True)
class Condition:
    """What a rule tests, as plain data."""

    metric: str
    op: str  # ">" or "<"
    threshold: float
    clear_threshold: float | None = None
    for_s: float = 0.0

    def fires(self, value: float) -> bool:
        """The alert condition holds for `value`."""
        return value > self.threshold if self.op == ">" else value < self.threshold

    def clears(self, value: float) -> bool:
        """The clear condition holds for `value` (past the hysteresis band)."""
        limit = self.threshold if self.clear_threshold is None else self.clear_threshold
        return value <= limit if self.op == ">" else value >= limit


SQL_COLUMNS: Final = {"voltage", "current", "power", "pf", "frequency", "meter_alarm"}


def moving_sql(cond: Condition, is_open: bool) -> str | None:
    """SQL over readings `r` true for a reading that could move a settled state: one that
    fires (closed) or clears (open). None when the metric is not a readings column."""
    if cond.metric not in SQL_COLUMNS:
        return None
    if cond.metric == "meter_alarm":
        return "NOT r.alarm" if is_open else "r.alarm"
    column = f"r.{cond.metric}"
    if is_open:
        limit = cond.threshold if cond.clear_threshold is None else cond.clear_threshold
        return f"{column} {'<=' if cond.op == '>' else '>='} {float(limit)!r}"
    return f"{column} {cond.op} {float(cond.threshold)!r}"


def flag_condition(metric: str, for_s: float = 0.0) -> Condition:
    """The condition of a 0/1 metric: holds at 1, clears at 0."""
    return Condition(metric, ">", 0.5, 0.5, for_s)


def validate(
    metric: str, op: str, threshold: float, clear_threshold: float | None, for_s: float
) -> str | None:
    """Why these rule fields make no sense (a message), or None when they do."""
    if metric not in METRICS:
        return f"metric must be one of {', '.join(METRICS)}"
    if op not in (">", "<"):
        return 'op must be ">" or "<"'
    if for_s < 0 or for_s > 7 * 86400:
        return "for_s must be between 0 and 604800 seconds"
    if clear_threshold is not None and metric not in FLAG_METRICS:
        if op == ">" and clear_threshold > threshold:
            return 'clear_threshold must not be above threshold for op ">"'
        if op == "<" and clear_threshold < threshold:
            return 'clear_threshold must not be below threshold for op "<"'
    return None


@dataclass(slots=True)
class AlertState:
    """The evolving state of one (rule, device).

    `open` is whether an alert is open (active or acknowledged); `since` is when the
    condition that would change that began to hold (None while it does not)."""

    open: bool = False
    since: float | None = None
    last_ts: float | None = None
    last_value: float | None = None

    def observe(self, cond: Condition, ts: float, value: float) -> Transition | None:
        """Feed one value at time `ts`; the transition it causes, if any."""
        if self.last_ts is not None and ts < self.last_ts:
            return None  # history, not the present
        self.last_ts = ts
        self.last_value = value
        moving = cond.clears(value) if self.open else cond.fires(value)
        if not moving:
            self.since = None  # back in place (or inside the band): start over
            return None
        if self.since is None:
            self.since = ts
        if ts - self.since < cond.for_s:
            return None
        self.open = not self.open
        self.since = None
        return "open" if self.open else "resolve"

    def tick(self, cond: Condition, now: float) -> Transition | None:
        """Let time pass without a new value: a condition that already holds may now have
        held for `for_s` (a device that stops sending keeps its last value)."""
        if self.last_value is None or self.last_ts is None or now < self.last_ts:
            return None
        return self.observe(cond, now, self.last_value)


def describe(metric: str, op: str, threshold: float, value: float | None, serial: str) -> str:
    """A one-line human message for an opened alert."""
    if metric == "offline":
        silent = f" (silent {value:.0f} s)" if value is not None else ""
        return f"{serial} is offline{silent}"
    if metric == "meter_alarm":
        return f"{serial}: the meter's power alarm tripped"
    if metric == "counter_reset":
        return f"{serial}: the energy counter was reset or jumped"
    unit = UNITS.get(metric, "")
    shown = "?" if value is None else f"{value:g}"
    return f"{serial}: {metric} {shown}{unit} {op} {threshold:g}{unit}"
