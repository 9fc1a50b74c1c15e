"""Which topics are Tasmota's and ESPHome's, and that none of meterhub's own is one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterhub.protocol.topics import foreign_topic, parse_topic


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("tele/tasmota_1A2B3C/SENSOR", ("tasmota", "tasmota_1A2B3C", "sensor", "")),
        ("tele/plug/LWT", ("tasmota", "plug", "status", "")),
        ("kitchen/sensor/pzem_voltage/state", ("esphome", "kitchen", "sensor", "pzem_voltage")),
        ("kitchen/status", ("esphome", "kitchen", "status", "")),
        ("tele/plug/STATE", None),
        ("tele//SENSOR", None),
        ("home/kitchen/sensor/v/state", None),  # a two-level prefix: not subscribed
        ("homeassistant/sensor/x/y/config", None),
        ("meterhub/PZEM-1/availability", None),
        ("+/status", None),
    ],
)
def test_foreign_topics(topic: str, parsed: tuple[str, ...] | None) -> None:
    assert foreign_topic(topic) == parsed


@given(
    st.text(st.characters(codec="utf-8", exclude_characters="/+#"), min_size=1, max_size=12),
    st.sampled_from(["data", "status", "control", "control/ack"]),
)
def test_meterhub_topics_are_never_foreign(topic_id: str, kind: str) -> None:
    topic = f"meter/{topic_id}/{kind}"
    assert parse_topic(topic) == (topic_id, kind)
    assert foreign_topic(topic) is None


def test_an_esphome_node_called_meter_is_not_a_bad_meterhub_topic() -> None:
    from meterhub.ingest.messages import decode_message
    from meterhub.protocol.esphome import Rounds

    batch = decode_message("meter/status", b"online", 1_796_000_000.0, Rounds())
    assert batch.rejects == [] and [s.serial for _, s in batch.foreign_statuses] == ["meter"]
    batch = decode_message("meter/sensor/pzem_voltage/state", b"230", 1_796_000_000.0)
    assert batch.rejects == [] and batch.readings == []
    bad = decode_message("meter/x/y/z", b"1", 1_796_000_000.0)
    assert [r.reason for r in bad.rejects] == ["bad_topic"]
