"""Per-device gauges on /metrics follow the access rule, and the Grafana dashboard in
deploy/grafana only queries metrics /metrics really exposes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from meterhub.context import AppContext
from tests.integrations.conftest import add_device, store

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "meterhub-dashboard.json"
T0 = int(time.time()) - 600


def samples(text: str) -> dict[tuple[str, str], float]:
    """(sample name, serial) -> value, for the per-device samples."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if "serial" in s.labels:
                out[(s.name, s.labels["serial"])] = s.value
    return out


def test_each_caller_sees_gauges_of_their_own_devices_only(
    admin_api: Any, make_user: Any, ctx: AppContext
) -> None:
    mine = add_device(ctx, "PR-MINE", name="Mine")
    add_device(ctx, "PR-OTHER")
    store(ctx, "PR-MINE", T0, 3.25, power=460)
    store(ctx, "PR-OTHER", T0, 9.0)
    alice = make_user("alice", (mine,))

    res = alice.get("/metrics")
    assert res.status_code == 200
    seen = samples(res.text)
    assert seen[("meterhub_device_power_watts", "PR-MINE")] == 460
    assert seen[("meterhub_device_voltage_volts", "PR-MINE")] == 230
    assert seen[("meterhub_device_energy_kwh", "PR-MINE")] == 3.25
    assert seen[("meterhub_device_last_reading_timestamp_seconds", "PR-MINE")] == T0
    assert {serial for _, serial in seen} == {"PR-MINE"}
    assert 'name="Mine"' in res.text
    assert "meterhub_ingest" not in res.text  # fleet figures are for admins

    admin = admin_api.get("/metrics").text
    assert {serial for _, serial in samples(admin)} == {"PR-MINE", "PR-OTHER"}
    assert "meterhub_ingest_readings_stored_total" in admin
    assert make_user("bob").get("/metrics").status_code == 200
    assert "PR-" not in make_user("carol").get("/metrics").text


def test_a_device_without_readings_is_listed_as_offline_without_values(
    admin_api: Any, ctx: AppContext
) -> None:
    add_device(ctx, "PR-EMPTY")
    seen = samples(admin_api.get("/metrics").text)
    assert seen[("meterhub_device_online", "PR-EMPTY")] == 0
    assert ("meterhub_device_power_watts", "PR-EMPTY") not in seen


def test_grafana_dashboard_queries_only_exposed_metrics(admin_api: Any, ctx: AppContext) -> None:
    add_device(ctx, "PR-G")
    store(ctx, "PR-G", T0, 1.0)
    exposed = {
        s.name
        for family in text_string_to_metric_families(admin_api.get("/metrics").text)
        for s in family.samples
    }
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["panels"]
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    for expr in exprs:
        names = set(re.findall(r"\bmeterhub_[a-z_]+", expr))
        assert names, expr
        assert names <= exposed, (expr, names - exposed)
    for panel in dashboard["panels"]:
        assert panel["datasource"]["type"] == "prometheus"
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
