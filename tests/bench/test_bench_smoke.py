"""`meterhub bench` must not rot: every case runs at a tiny size and reports its figures.

Correctness only: nothing here asserts a speed (speed is measured by the benchmark,
never asserted by a wall-clock test; see docs/performance.md)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from meterhub.bench import mqttload
from meterhub.bench.common import CaseResult, Target, percentile
from meterhub.bench.mosquitto import available
from meterhub.bench.runner import CASES, run_case, save
from meterhub.cli.bench import app
from tests.support import require

# What each case must report (the keys scripts and docs/performance.md rely on).
KEYS = {
    "ingest": [
        "ingest_readings_per_s",
        "ingest_batch_readings_per_s",
        "ingest_baseline_msgs_per_s",
        "ingest_lost",
        "embedded_readings_per_s",
        "ingest_vs_baseline",
        "ingest_cpu_pct",
        "ingest_baseline_wire_msgs_per_s",
        "ingest_vs_wire_baseline",
        "ingest_batch_sqlite_rows_per_s",
        "ingest_batch_vs_sqlite",
    ],
    "latency": [
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_slow_client_p99_ms",
        "latency_mqtt_p99_ms",
    ],
    "queries": [
        "summary_year_ms",
        "chart_year_ms",
        "stats_1000_devices_ms",
        "chart_day_raw_ms",
        "stats_1000_devices_http_ms",
        "http_baseline_ms",
    ],
    "tariffs": ["cost_year_daily_ms", "cost_year_daily_tou_ms", "bill_month_ms"],
    "memory": ["rss_mb_10k_devices", "rss_mb_idle"],
    "alerts": [
        "alerts_ingest_without_per_s",
        "alerts_ingest_with_per_s",
        "alerts_ingest_vs_without",
        "alerts_ingest_lost",
    ],
}


def need_mosquitto() -> None:
    require(available(), "mosquitto is not installed")


@pytest.mark.parametrize(
    "case", [c if c == "queries" else pytest.param(c, marks=pytest.mark.mosquitto) for c in CASES]
)
def test_case_runs_at_tiny_size(case: str, tmp_path: Path) -> None:
    if case not in ("queries", "tariffs"):
        need_mosquitto()
    result = run_case(case, "tiny", tmp_path)
    assert "error" not in result.figures, result.table()
    for key in KEYS[case]:
        assert key in result.figures, key
    doc = result.as_json("tiny")
    assert doc["machine"]["cores"] and doc["versions"]["python"]
    orjson.dumps(doc)
    if case == "ingest":
        assert result.figures["ingest_lost"] == 0
        assert result.figures["ingest_batch_lost"] == 0
        assert result.figures["embedded_lost"] == 0
        assert result.figures["ingest_readings"] == 200
    if case == "latency":
        assert result.figures["latency_samples"] > 0
    if case == "queries":
        assert result.figures["chart_day_raw_ms"] is not None
    if case == "memory":
        assert result.figures["memory_devices_stored"] == 100
    if case == "alerts":
        assert result.figures["alerts_ingest_lost"] == 0


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(map(float, range(101))), 99) == 99.0


def test_publish_packet_is_mqtt_311_qos1() -> None:
    packet = mqttload.publish_packet("meter/A/data", b"{}", 7)
    assert packet == b"\x32\x12\x00\x0cmeter/A/data\x00\x07{}"
    long = mqttload.publish_packet("t", b"x" * 200, 1)
    assert long[:3] == b"\x32\xcd\x01"  # remaining length 205 as a varint


def test_messages_cover_every_reading() -> None:
    plan = mqttload.Plan("127.0.0.1", 1, ("A", "B"), per_meter=5, batch=2)
    messages = mqttload.build_messages(plan)
    assert len(messages) == plan.messages == 6
    readings = sum(len(orjson.loads(p).get("readings", [1])) for _, p in messages)
    assert readings == plan.readings == 10


def test_targets_and_results_file(tmp_path: Path) -> None:
    result = CaseResult("x", targets=[Target("a_ms", 20, False)])
    result.add("a_ms", 25.0)
    assert result.as_json("tiny")["targets"]["a_ms"] == {"target": "<= 20", "met": False}
    assert "NO" in result.table()
    save([result], "tiny", tmp_path / "latest.json")
    doc = orjson.loads((tmp_path / "latest.json").read_bytes())
    assert doc["figures"] == {"a_ms": 25.0} and "x" in doc["cases"]


def test_cli_refuses_an_unknown_case() -> None:
    res = CliRunner().invoke(app, ["nosuchcase"])
    assert res.exit_code == 2
    assert "unknown case" in res.output


def test_shared_ingest_case_runs_at_tiny_size(pg_database: str | None, tmp_path: Path) -> None:
    """`bench ingest --workers 1,2 --database ...`: each count reports its rate, the ratio
    to one worker, per-worker CPU, and loses nothing."""
    from meterhub.bench import shared

    need_mosquitto()
    require(pg_database is not None, "PostgreSQL is not answering")
    assert pg_database is not None
    result = shared.run("tiny", tmp_path, [1, 2], pg_database)
    figures = result.figures
    assert figures["shared_1_readings_per_s"] > 0 and figures["shared_2_readings_per_s"] > 0
    assert figures["shared_1_vs_1"] == 1.0 and figures["shared_2_vs_1"] > 0
    assert figures["shared_1_lost"] == 0 and figures["shared_2_lost"] == 0
    assert len(figures["shared_2_cpu_pct"].split(" / ")) == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["ingest", "--workers", "1,2"], "--workers needs --database postgresql://"),
        (["latency", "--workers", "1", "--database", "postgresql://x/y"], "ingest case alone"),
        (["ingest", "--workers", "0,x", "--database", "postgresql://x/y"], "worker counts"),
    ],
)
def test_cli_refuses_bad_shared_options(args: list[str], says: str) -> None:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert says in res.output
