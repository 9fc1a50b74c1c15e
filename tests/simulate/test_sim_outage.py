"""Outages queue readings and flush them as batch messages, in order."""

from __future__ import annotations

import random

import pytest

from meterhub.simulate import outage
from meterhub.simulate.outage import OutageState


def _reading(seq: int) -> dict[str, object]:
    return {"serial_number": "PZEM-1", "seq": seq}


def _sent_seqs(messages: list[dict[str, object]]) -> list[object]:
    seqs: list[object] = []
    for message in messages:
        if "readings" in message:
            assert message["serial_number"] == "PZEM-1"
            seqs.extend(r["seq"] for r in message["readings"])  # type: ignore[attr-defined]
        else:
            seqs.append(message["seq"])
    return seqs


def test_no_outages_sends_every_reading_at_once() -> None:
    state = OutageState(0.0, random.Random(1))
    assert [state.handle(_reading(i)) for i in range(3)] == [[_reading(i)] for i in range(3)]


def test_outages_batch_and_keep_order() -> None:
    state = OutageState(0.3, random.Random(2))
    sent: list[dict[str, object]] = []
    for seq in range(1, 501):
        sent.extend(state.handle(_reading(seq)))
    sent.extend(state.flush("PZEM-1"))
    assert state.outages > 0
    assert any("readings" in m for m in sent)
    assert _sent_seqs(sent) == list(range(1, 501))


def test_full_queue_drops_the_oldest_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outage, "QUEUE_LIMIT", 5)
    monkeypatch.setattr(outage, "OUTAGE_MIN_INTERVALS", 50)
    monkeypatch.setattr(outage, "OUTAGE_MAX_INTERVALS", 50)
    state = OutageState(1.0, random.Random(3))
    for seq in range(1, 9):
        assert state.handle(_reading(seq)) == []
    assert state.dropped == 3
    assert _sent_seqs(state.flush("PZEM-1")) == [4, 5, 6, 7, 8]


def test_probability_is_checked() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        OutageState(1.5, random.Random())
