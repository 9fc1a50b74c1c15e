"""Simulated PZEM-004T meters: a deterministic load model, history, replay, MQTT publishing."""

from meterhub.simulate.history import (
    build_models,
    history,
    iter_history,
    iter_model_history,
    make_serials,
)
from meterhub.simulate.model import MeterModel
from meterhub.simulate.profiles import PROFILES, get_profile
from meterhub.simulate.replay import ReplayData, ReplayError, ReplayMeter, load_replay, parse_replay

__all__ = [
    "PROFILES",
    "MeterModel",
    "ReplayData",
    "ReplayError",
    "ReplayMeter",
    "build_models",
    "get_profile",
    "history",
    "iter_history",
    "iter_model_history",
    "load_replay",
    "make_serials",
    "parse_replay",
]
