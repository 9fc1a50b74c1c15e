"""The evaluator on SQLite and PostgreSQL: readings committed by ingest's store in,
alerts out; restarts, offline, the meter's alarm flag, local days across DST, counter
resets, live rule changes and who is covered."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from meterhub.alerts.evaluator import Evaluator
from meterhub.db.models import Alert, AlertCursor, AlertDelivery, AlertRule, Device
from meterhub.store import readings as store_readings

T0 = 1_790_000_000.0  # 2026-09-21, a quarter-hour boundary


def alerts(ctx: Any) -> list[Alert]:
    with ctx.sessions() as db:
        return list(db.scalars(select(Alert).order_by(Alert.id)))


def test_threshold_with_duration_opens_once_and_resolves(
    ctx: Any, meters: Any, make_owner: Any, make_rule: Any, make_channel: Any
) -> None:
    admin = make_owner("boss", "admin")
    meters.add("P-1")
    hook = make_channel(admin, "webhook", "http://127.0.0.1:9/hook", "s" * 16)
    make_rule(
        admin,
        metric="power",
        threshold=1000,
        clear_threshold=800,
        for_s=20,
        severity="critical",
        channel_ids=[hook],
    )
    ev = Evaluator(ctx.sessions, start_ms=0)
    for i, power in enumerate([500, 1200, 1200, 1200, 950, 1300, 900, 700, 700, 700]):
        meters.send("P-1", T0 + i * 10, power=power)
    result = ev.step()
    assert result.readings == 9  # the first (500 W) cannot change anything: not read
    (alert,) = alerts(ctx)
    # above from t=10 s, held 20 s at t=30 s; 950 and 900 sit inside the band; cleared
    # (<= 800) from t=70 s, held 20 s at t=90 s
    assert alert.opened_at == datetime.fromtimestamp(T0 + 30, UTC)
    assert alert.state == "resolved"
    assert alert.resolved_at == datetime.fromtimestamp(T0 + 90, UTC)
    assert alert.open_key is None
    assert "power 1200W > 1000W" in alert.message
    with ctx.sessions() as db:
        events = sorted(d.event for d in db.scalars(select(AlertDelivery)))
    assert events == ["opened", "resolved"]
    assert ev.step().readings == 0  # nothing new, nothing twice


def test_a_restart_neither_loses_an_open_alert_nor_opens_it_twice(
    ctx: Any, meters: Any, make_owner: Any, make_rule: Any
) -> None:
    admin = make_owner("boss", "admin")
    meters.add("R-1")
    make_rule(admin, metric="current", threshold=10, clear_threshold=8)
    first = Evaluator(ctx.sessions, start_ms=0)
    meters.send("R-1", T0, current=12.0)
    assert len(first.step().opened) == 1
    # a new process: state from the database (cursors, open alerts)
    second = Evaluator(ctx.sessions, start_ms=0)
    meters.send("R-1", T0 + 10, current=13.0)
    assert second.step().opened == []
    # even one that forgot its cursors replays the readings without a second alert
    with ctx.sessions() as db:
        db.execute(delete(AlertCursor))
        db.commit()
    third = Evaluator(ctx.sessions, start_ms=0)
    assert third.step().opened == []
    meters.send("R-1", T0 + 20, current=2.0)
    assert len(third.step().resolved) == 1
    assert [a.state for a in alerts(ctx)] == ["resolved"]
    # and one that replays everything after the alert was resolved opens nothing anew
    with ctx.sessions() as db:
        db.execute(delete(AlertCursor))
        db.commit()
    fourth = Evaluator(ctx.sessions, start_ms=0)
    assert fourth.step().opened == []
    assert [a.state for a in alerts(ctx)] == ["resolved"]


def test_offline_after_silence_and_resolved_on_return(
    ctx: Any, meters: Any, make_owner: Any, make_rule: Any, monkeypatch: Any
) -> None:
    from meterhub.alerts import evaluator as module

    monkeypatch.setattr(store_readings, "DEVICE_META_EVERY_S", 0.0)
    monkeypatch.setattr(module, "OFFLINE_CHECK_S", 0.0)
    admin = make_owner("boss", "admin")
    meters.add("O-1")
    make_rule(admin, metric="offline", severity="major")
    monkeypatch.setattr(module, "OFFLINE_SLACK_S", 0.0)
    meters.send("O-1", time.time())
    with ctx.sessions() as db:  # as if ingest had learned a 1 s interval: offline after 3 s
        device = db.get(Device, meters.ids["O-1"])
        assert device is not None
        device.reading_interval_s = 1
        db.commit()
    ev = Evaluator(ctx.sessions, start_ms=0)
    assert ev.step().opened == []
    time.sleep(3.2)  # real silence: last_seen only ever moves forward
    opened = ev.step().opened
    assert len(opened) == 1
    (alert,) = alerts(ctx)
    assert alert.message.startswith("rule: O-1 is offline (silent ")
    assert alert.value is not None and alert.value > 3.0
    assert ev.step().opened == []  # still one
    meters.send("O-1", time.time())
    assert ev.step().resolved == opened


def test_the_meters_own_alarm_flag(ctx: Any, meters: Any, make_owner: Any, make_rule: Any) -> None:
    admin = make_owner("boss", "admin")
    meters.add("A-1")
    make_rule(admin, metric="meter_alarm", severity="critical")
    ev = Evaluator(ctx.sessions, start_ms=0)
    meters.send("A-1", T0, alarm=False)
    meters.send("A-1", T0 + 10, alarm=True)
    meters.send("A-1", T0 + 20, alarm=True)
    assert len(ev.step().opened) == 1
    meters.send("A-1", T0 + 30, alarm=False)
    assert len(ev.step().resolved) == 1
    (alert,) = alerts(ctx)
    assert alert.message == "rule: A-1: the meter's power alarm tripped"


def test_daily_energy_across_a_dst_day(
    ctx: Any, meters: Any, make_owner: Any, make_rule: Any
) -> None:
    """Berlin's 2026-03-29 has 23 hours (00:00 local = 22:00 UTC the day before). 1 kWh
    an hour: the day's energy reaches 20 kWh at 20:00 local = 18:00 UTC, not 19:00 UTC
    (what a 24-hour day from UTC midnight, or the wrong offset, would say)."""
    admin = make_owner("boss", "admin")
    meters.add("E-1")
    make_rule(
        admin, metric="energy_day_kwh", threshold=19.5, clear_threshold=1.0, tz="Europe/Berlin"
    )
    ev = Evaluator(ctx.sessions, start_ms=0)
    start = datetime(2026, 3, 28, 21, 0, tzinfo=UTC).timestamp()  # 22:00 local, day before
    opened_at = None
    for hour in range(0, 26):
        ts = start + hour * 3600
        meters.send("E-1", ts, energy=100.0 + hour, power=1000.0)
        if ev.step().opened:
            opened_at = datetime.fromtimestamp(ts, UTC)
            break
    # local day from 2026-03-28T22:00Z: 20.0 kWh used by 2026-03-29T18:00Z (> 19.5)
    assert opened_at == datetime(2026, 3, 29, 18, 0, tzinfo=UTC)
    # the next local day starts at 22:00Z (00:00 CEST): the day's energy falls, it resolves
    for hour in range(1, 6):
        meters.send("E-1", opened_at.timestamp() + hour * 3600, energy=120.0 + hour)
        ev.step()
    assert [a.state for a in alerts(ctx)] == ["resolved"]
    assert alerts(ctx)[0].resolved_at == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)


def test_counter_reset_from_ingest_events(
    ctx: Any, meters: Any, make_owner: Any, make_rule: Any
) -> None:
    admin = make_owner("boss", "admin")
    meters.add("C-1")
    make_rule(admin, metric="counter_reset", severity="minor")
    ev = Evaluator(ctx.sessions, start_ms=0)
    now = time.time()
    meters.send("C-1", now - 20, energy=500.0)
    meters.send("C-1", now - 10, energy=0.01)  # the counter was reset
    assert len(ev.step(now).opened) == 1
    assert ev.step(now + 1).opened == []  # the same event is not seen twice
    assert len(ev.step(now + 120).resolved) == 1  # quiet for the hold time


def test_rule_changes_take_effect_without_a_restart(
    ctx: Any, meters: Any, make_owner: Any, make_rule: Any, monkeypatch: Any
) -> None:
    from meterhub.alerts import evaluator as module

    monkeypatch.setattr(module, "RELOAD_CHECK_S", 0.0)
    admin = make_owner("boss", "admin")
    meters.add("V-1")
    rule_id = make_rule(admin, metric="voltage", op=">", threshold=250, clear_threshold=245)
    ev = Evaluator(ctx.sessions, start_ms=0)
    meters.send("V-1", T0, voltage=240.0)
    assert ev.step().opened == []
    with ctx.sessions() as db:
        rule = db.get(AlertRule, rule_id)
        assert rule is not None
        rule.threshold, rule.clear_threshold = 235.0, 230.0
        rule.updated_at = datetime.now(UTC)
        db.commit()
    meters.send("V-1", T0 + 10, voltage=240.0)
    assert len(ev.step().opened) == 1
    with ctx.sessions() as db:
        rule = db.get(AlertRule, rule_id)
        assert rule is not None
        rule.enabled = False
        rule.updated_at = datetime.now(UTC)
        db.commit()
    ev.step()
    assert [a.state for a in alerts(ctx)] == ["resolved"]  # disabled: closed quietly


def test_a_users_rule_covers_only_their_devices_and_only_their_channels(
    ctx: Any, meters: Any, make_owner: Any, make_rule: Any, make_channel: Any
) -> None:
    alice = make_owner("alice")
    bob = make_owner("bob")
    meters.add("AL-1", owner=alice)
    meters.add("BO-1", owner=bob)
    mine = make_channel(alice, "webhook", "http://127.0.0.1:9/a")
    bobs = make_channel(bob, "webhook", "http://127.0.0.1:9/b")
    make_rule(alice, metric="power", threshold=100, channel_ids=[mine, bobs])
    ev = Evaluator(ctx.sessions, start_ms=0)
    meters.send("AL-1", T0, power=500.0)
    meters.send("BO-1", T0, power=500.0)
    ev.step()
    assert [a.serial for a in alerts(ctx)] == ["AL-1"]
    with ctx.sessions() as db:
        assert [d.channel_id for d in db.scalars(select(AlertDelivery))] == [mine]
