"""History generation for backfill and demo mode."""

from __future__ import annotations

from meterhub.simulate import build_models, history, iter_history, iter_model_history, make_serials

END = 1_764_000_000.0


def test_serials_are_distinct_stable_and_pzem_shaped() -> None:
    serials = make_serials(500, seed=1)
    assert len(set(serials)) == 500
    assert serials == make_serials(500, seed=1)
    assert serials != make_serials(500, seed=2)
    assert all(s.startswith("PZEM-") and len(s) == 11 for s in serials)


def test_iter_history_covers_the_days_in_chunks() -> None:
    meters = make_serials(3)
    chunks = list(
        iter_history(meters, "household", days=2, interval=60, end_ts=END, seed=1, chunk_size=900)
    )
    readings = [r for chunk in chunks for r in chunk]
    assert len(readings) == 3 * 2 * 1440
    assert all(len(chunk) <= 900 for chunk in chunks)
    for serial in meters:
        own = [r for r in readings if r["serial_number"] == serial]
        assert [r["seq"] for r in own] == list(range(1, len(own) + 1))
        assert own[-1]["timestamp"] == "2025-11-24T15:59:00Z"  # last one before END
        assert own[0]["timestamp"] == "2025-11-22T16:00:00Z"


def test_history_is_deterministic() -> None:
    a = list(history("PZEM-1", "workshop", END - 3600, END, 10, seed=9))
    b = list(history("PZEM-1", "workshop", END - 3600, END, 10, seed=9))
    assert a == b and len(a) == 360


def test_models_continue_after_history() -> None:
    """Live sampling after a backfill carries on seq and energy without a jump."""
    models = build_models(["PZEM-C"], "household", seed=1)
    past = [r for chunk in iter_model_history(models, END - 3600, END, 60) for r in chunk]
    live = models[0].sample(END + 60)
    assert live["seq"] == past[-1]["seq"] + 1
    assert 0 <= live["energy"] - past[-1]["energy"] < 0.5
