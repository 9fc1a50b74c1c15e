"""The evaluator: follows what ingest committed and runs every rule's state machine.

Each :meth:`Evaluator.step` (every STEP_S in the alerts process):

1. reloads the rules when they, the devices or the assignments changed (so a rule change
   takes effect within a step, without a restart), and resolves, without notifying, open
   alerts whose rule no longer covers the device;
2. reads the readings of every device a reading rule covers that are newer than the
   device's cursor (the newest reading it evaluated, kept in ``alert_cursors``), oldest
   first, and feeds them to the state machines (``alerts.core``);
3. checks offline rules against ``devices.last_seen`` and the learned reading interval,
   and counter rules against the counter events ingest records;
4. writes opened/resolved alerts, their queued notifications and the cursors in ONE
   transaction (cursors alone only every CURSOR_SAVE_S: a step that decided nothing
   writes nothing). A crash replays the readings after the saved cursors; one open alert
   per (rule, device) is a unique key in the database, and readings not newer than a
   pair's last recorded transition are history, so replaying never opens an alert twice.

Which devices to read: those whose ``last_seen`` (receive time, written by ingest at
most every few seconds per device) is within TRAIL_S of the previous step. On PostgreSQL
two ingest transactions can commit in the other order than their times; re-checking a
trailing window of TRAIL_S, rather than "since the last step", catches the one that
committed late. Within a device, readings are taken by time (``ts > cursor``); one older
than a reading already evaluated is history and does not move an alert (see
``alerts.core``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from meterhub.alerts import store
from meterhub.alerts.core import READING_METRICS, AlertState, Transition, moving_sql
from meterhub.alerts.store import DeviceInfo, RuleSpec, Snapshot
from meterhub.db.models import DEVICE_ACTIVE, Device

log = logging.getLogger(__name__)

STEP_S: float = 1.0
"""Time between two evaluation steps."""
TRAIL_S: float = 30.0
"""How far back the changed-devices and counter-events queries look (late commits)."""
START_BACK_S: float = 60.0
"""A device the evaluator never saw is read from this long ago (not its whole history)."""
ROWS_PER_STEP: int = 20_000
"""Most readings read per chunk of devices in one step; the rest come next step."""
OFFLINE_AFTER_INTERVALS: int = 3
OFFLINE_SLACK_S: float = 5.0
"""ingest writes last_seen at most this often per device: silence shorter is not silence."""
COUNTER_HOLD_MIN_S: float = 60.0
"""A counter-reset alert resolves after max(for_s, this) without another event."""
CURSOR_SAVE_S: float = 10.0
"""Cursors are saved this often, or with any alert change. Each save takes SQLite's one
write lock, which ingest's writer needs; a restart re-reads at most this much (what is
not newer than a pair's last transition is history, so nothing opens twice)."""
ENERGY_CHECK_S: float = 30.0
"""Least reading time between two daily-energy evaluations of a device (a rollup query)."""
OFFLINE_CHECK_S: float = 5.0
"""How often offline rules are checked (silence is measured in tens of seconds)."""
RELOAD_CHECK_S: float = 1.0
"""How often the rules' version is compared (one cheap query)."""

READING_RULES = READING_METRICS | {"energy_day_kwh", "meter_alarm"}


@dataclass(slots=True)
class StepResult:
    """What one step did."""

    readings: int = 0
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


class Evaluator:
    """The rule engine's I/O shell (one per deployment; a second one is harmless: the
    unique open key stops double opens, but both would notify on resolve)."""

    def __init__(self, sessions: sessionmaker[Session], start_ms: int | None = None) -> None:
        self.sessions = sessions
        self.start_ms = start_ms
        self.snapshot = Snapshot()
        self.states: dict[tuple[int, int], AlertState] = {}
        self.open: dict[tuple[int, int], int] = {}
        self.cursors: dict[int, int] = {}
        self.by_device: dict[int, list[RuleSpec]] = {}
        self.offline_rules: list[RuleSpec] = []
        self.counter_rules: dict[int, list[RuleSpec]] = {}
        self.seen_events: deque[int] = deque(maxlen=10_000)
        self._seen_set: set[int] = set()
        self.last_step: float | None = None
        self.loaded = False
        self._checked = 0.0
        self._offline_checked = 0.0
        self._energy_checked: dict[int, int] = {}  # device -> reading time (ms) last summed
        self.evaluated = 0  # readings evaluated since start (logged at stop)
        self._unsaved: dict[int, int] = {}
        self._saved = 0.0
        self.devices: dict[int, DeviceInfo] = {}

    # -- rules ---------------------------------------------------------------------------
    def _maybe_reload(self, db: Session) -> None:
        mono = time.monotonic()
        if self.loaded and mono - self._checked < RELOAD_CHECK_S:
            return
        self._checked = mono
        if self.loaded and store.rules_version(db) == self.snapshot.version:
            return
        self.snapshot = store.load_snapshot(db)
        if not self.loaded:
            self.cursors = store.load_cursors(db)
        self.loaded = True
        self.devices = {}  # reload them all (a device may have been removed or disabled)
        self.by_device, self.offline_rules, self.counter_rules = {}, [], {}
        covered: set[tuple[int, int]] = set()
        for rule in self.snapshot.rules:
            for device_id in rule.device_ids:
                covered.add((rule.id, device_id))
                if rule.metric in READING_RULES:
                    self.by_device.setdefault(device_id, []).append(rule)
                elif rule.metric == "counter_reset":
                    self.counter_rules.setdefault(device_id, []).append(rule)
            if rule.metric == "offline":
                self.offline_rules.append(rule)
        self.open = store.open_alerts(db)
        stale = [alert for key, alert in self.open.items() if key not in covered]
        if stale:
            store.resolve_quietly(db, stale)
            log.info("resolved %d alerts whose rule no longer covers the device", len(stale))
        self.open = {k: v for k, v in self.open.items() if k in covered}
        self.states = {k: v for k, v in self.states.items() if k in covered}
        for key in self.open:
            self.states.setdefault(key, AlertState()).open = True
        # After a restart, readings since the last saved cursor are evaluated again; those
        # not newer than the pair's last recorded transition are history (no second alert).
        for key, ts in store.last_transitions(db, covered).items():
            state = self.states.setdefault(key, AlertState(open=key in self.open))
            if state.last_ts is None or state.last_ts < ts:
                state.last_ts = ts
        log.info("alerts: %d rules loaded", len(self.snapshot.rules))

    def _state(self, rule: RuleSpec, device_id: int) -> AlertState:
        key = (rule.id, device_id)
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = AlertState(open=key in self.open)
        return state

    # -- one step ------------------------------------------------------------------------
    def step(self, now: float | None = None) -> StepResult:
        """Evaluate what was committed since the last step; commit what it decided."""
        now = time.time() if now is None else now
        result = StepResult()
        with self.sessions() as db:
            self._maybe_reload(db)
            devices = self._device_rows(db, now)
            self._readings(db, devices, now, result)
            if now - self._offline_checked >= OFFLINE_CHECK_S or now < self._offline_checked:
                self._offline_checked = now
                self._offline(db, devices, now, result)
            self._counters(db, now, result)
            changed = bool(result.opened or result.resolved)
            if self._unsaved and (changed or abs(now - self._saved) >= CURSOR_SAVE_S):
                store.save_cursors(db, self._unsaved)
                self._unsaved, self._saved = {}, now
            db.commit()  # a step that decided nothing wrote nothing: ingest's lock is free
        self.last_step = now
        self.evaluated += result.readings
        return result

    def _device_rows(self, db: Session, now: float) -> dict[int, DeviceInfo]:
        """Active devices with their last_seen: all of them at a reload, then only those
        ingest touched lately (a device whose last_seen did not move keeps its cached
        row, which is exactly what offline detection needs)."""
        query = select(
            Device.id, Device.serial_number, Device.last_seen, Device.reading_interval_s
        ).where(Device.status == DEVICE_ACTIVE)
        if self.devices and self.last_step is not None:
            since = datetime.fromtimestamp(self.last_step - TRAIL_S, UTC)
            query = query.where(Device.last_seen >= since)
        else:
            self.devices = {}
        for r in db.execute(query):
            self.devices[r.id] = DeviceInfo(
                r.id, r.serial_number, r.last_seen, r.reading_interval_s
            )
        return self.devices

    def _readings(
        self, db: Session, devices: dict[int, DeviceInfo], now: float, result: StepResult
    ) -> None:
        if not self.by_device:
            return
        recent = None if self.last_step is None else self.last_step - TRAIL_S
        since: dict[int, int] = {}
        for device_id in self.by_device:
            info = devices.get(device_id)
            if info is None or info.last_seen is None:
                continue
            cursor = self.cursors.get(device_id)
            if cursor is not None and recent is not None and info.last_seen.timestamp() < recent:
                continue  # nothing new since the trailing window
            if cursor is None:
                start = self.start_ms
                cursor = int((now - START_BACK_S) * 1000) if start is None else start
            since[device_id] = cursor
        if not since:
            return
        upto = {d: ts for d, ts in store.newest_ts(db, list(since)).items() if ts > since[d]}
        if not upto:
            return
        # Most readings cannot change anything: a settled state (closed or open, no for_s
        # countdown running) moves only on a reading past its threshold. The database
        # finds each device's first such reading; Python reads from there on, and the
        # cursor of a device without one simply moves to its newest reading.
        groups: dict[str, dict[int, tuple[int, int]]] = {}
        start_at: dict[int, int] = {}
        for device_id, top in upto.items():
            predicate = self._moving_predicate(device_id)
            if predicate == "TRUE":
                start_at[device_id] = since[device_id]
            elif predicate is not None:
                groups.setdefault(predicate, {})[device_id] = (since[device_id], top)
        for predicate, ranges in groups.items():
            for device_id, first in store.first_moving(db, ranges, predicate).items():
                start_at[device_id] = first - 1
        rows = store.new_readings(db, start_at, ROWS_PER_STEP, upto) if start_at else []
        moved: dict[int, int] = {d: top for d, top in upto.items() if d not in start_at}
        newest: dict[int, tuple[int, dict[str, Any]]] = {d: (top, {}) for d, top in upto.items()}
        fetched: dict[int, int] = {}
        for device_id, ts_ms, values in rows:
            info = devices[device_id]
            for rule in self.by_device[device_id]:
                if rule.metric == "energy_day_kwh":
                    continue
                value = _reading_value(rule.metric, values)
                if value is not None:
                    self._apply(db, rule, info, ts_ms / 1000, value, result)
            fetched[device_id] = ts_ms
        for device_id in start_at:
            # read up to its newest, or as far as the row limit let us (the rest next
            # step); nothing read at all only happens past the limit: stay put
            last = fetched.get(device_id)
            if last is not None:
                moved[device_id] = last
        for device_id, (ts_ms, _) in newest.items():
            day_rules = [r for r in self.by_device[device_id] if r.metric == "energy_day_kwh"]
            if not day_rules:
                continue
            last = self._energy_checked.get(device_id)
            if last is not None and 0 <= ts_ms - last < ENERGY_CHECK_S * 1000:
                continue  # a day's energy moves slowly: one rollup query per device a while
            self._energy_checked[device_id] = ts_ms
            for rule in day_rules:
                midnight = local_midnight(ts_ms / 1000, rule.tz)
                value = store.day_energy_kwh(db, device_id, midnight)
                self._apply(db, rule, devices[device_id], ts_ms / 1000, value, result)
        result.readings += len(rows)
        self.cursors.update(moved)
        self._unsaved.update(moved)

    def _moving_predicate(self, device_id: int) -> str | None:
        """SQL true for the device's readings that could move one of its states; "TRUE"
        when a for_s countdown runs (every reading counts then); None when no rule reads
        readings (only daily energy)."""
        parts: list[str] = []
        for rule in self.by_device[device_id]:
            if rule.metric == "energy_day_kwh":
                continue
            state = self.states.get((rule.id, device_id))
            is_open = state.open if state else (rule.id, device_id) in self.open
            if state is not None and state.since is not None:
                return "TRUE"
            sql = moving_sql(rule.condition, is_open)
            if sql is None:
                return "TRUE"
            parts.append(sql)
        if not parts:
            return None
        return " OR ".join(f"({p})" for p in sorted(set(parts)))

    def _offline(
        self, db: Session, devices: dict[int, DeviceInfo], now: float, result: StepResult
    ) -> None:
        silence: dict[int, tuple[float, float]] = {}  # device -> (flag, seconds silent)
        for rule in self.offline_rules:
            for device_id in rule.device_ids:
                known = silence.get(device_id)
                if known is None:
                    info = devices.get(device_id)
                    if info is None or info.last_seen is None:
                        continue  # never seen: not "gone silent"
                    silent = now - info.last_seen.timestamp()
                    limit = OFFLINE_AFTER_INTERVALS * info.interval_s + OFFLINE_SLACK_S
                    known = silence[device_id] = (1.0 if silent > limit else 0.0, round(silent, 1))
                flag, shown = known
                self._apply(db, rule, devices[device_id], now, flag, result, shown=shown)

    def _counters(self, db: Session, now: float, result: StepResult) -> None:
        if not self.counter_rules:
            return
        cursor_ms = self.cursors.get(store.EVENTS_CURSOR)
        start = now - START_BACK_S if cursor_ms is None else cursor_ms / 1000 - TRAIL_S
        events = store.counter_events(
            db, datetime.fromtimestamp(start, UTC), self.counter_rules.keys()
        )
        newest = cursor_ms or 0
        for event_id, device_id, ts, _kind in events:
            newest = max(newest, int(ts.timestamp() * 1000))
            if event_id in self._seen_set:
                continue
            self._remember(event_id)
            info = self.snapshot.devices.get(device_id)
            if info is None:
                continue
            for rule in self.counter_rules.get(device_id, ()):
                state = self._state(rule, device_id)
                state.last_ts = ts.timestamp()  # the hold restarts at every event
                if not state.open:
                    self._apply(db, rule, info, ts.timestamp(), 1.0, result)
        if newest and newest != cursor_ms:
            self.cursors[store.EVENTS_CURSOR] = newest
            self._unsaved[store.EVENTS_CURSOR] = newest
        for device_id, rules in self.counter_rules.items():
            for rule in rules:
                held = self.states.get((rule.id, device_id))
                if held is None or not held.open or held.last_ts is None:
                    continue
                if now - held.last_ts >= max(rule.for_s, COUNTER_HOLD_MIN_S):
                    held.open = False
                    info = self.snapshot.devices.get(device_id)
                    if info is not None:
                        self._record(db, rule, info, "resolve", now, 0.0, result)

    def _remember(self, event_id: int) -> None:
        if len(self.seen_events) == self.seen_events.maxlen:
            self._seen_set.discard(self.seen_events[0])
        self.seen_events.append(event_id)
        self._seen_set.add(event_id)

    # -- transitions ---------------------------------------------------------------------
    def _apply(
        self,
        db: Session,
        rule: RuleSpec,
        info: DeviceInfo,
        ts: float,
        value: float,
        result: StepResult,
        shown: float | None = None,
    ) -> None:
        state = self._state(rule, info.id)
        transition = state.observe(rule.condition, ts, value)
        if transition is not None:
            self._record(db, rule, info, transition, ts, value if shown is None else shown, result)

    def _record(
        self,
        db: Session,
        rule: RuleSpec,
        info: DeviceInfo,
        transition: Transition,
        ts: float,
        value: float,
        result: StepResult,
    ) -> None:
        key = (rule.id, info.id)
        at = datetime.fromtimestamp(ts, UTC)
        if transition == "open":
            alert = store.open_alert(db, rule, info, value, at)
            if alert is None:  # open already (a restart): adopt it
                self.open.update(store.open_alerts(db))
            else:
                self.open[key] = alert.id
                result.opened.append(alert.id)
            return
        alert_id = self.open.pop(key, None)
        if alert_id is not None:
            store.resolve_alert(db, alert_id, value, at, rule.owner_id, rule.channel_ids)
            result.resolved.append(alert_id)

    # -- loop ----------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Step every STEP_S until `stop` is set; a failing step is logged and retried."""
        while not stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("alert evaluation step failed; retrying")
                self.loaded = False  # reload everything from the database
            stop.wait(STEP_S)


def _reading_value(metric: str, values: dict[str, Any]) -> float | None:
    if metric == "meter_alarm":
        alarm = values.get("alarm")
        return None if alarm is None else (1.0 if alarm else 0.0)
    value = values.get(metric)
    return None if value is None else float(value)


def local_midnight(ts: float, tz: str) -> int:
    """Epoch seconds of the start of the local day (in zone `tz`) holding `ts`. On a DST
    day that day is 23 or 25 hours long; midnight itself is what the zone says."""
    zone = ZoneInfo(tz)
    local = datetime.fromtimestamp(ts, zone)
    start = datetime(local.year, local.month, local.day, tzinfo=zone)
    # A zone whose clocks jump at midnight has no 00:00 that day: the day starts at the jump.
    if start.astimezone(UTC).astimezone(zone).date() != local.date():
        start = start + timedelta(hours=1)
    return int(start.timestamp())
