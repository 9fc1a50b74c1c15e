"""Shared ingest's names: the `$share/<group>/` filters and the worker's client id."""

from __future__ import annotations

import socket

import pytest

from meterhub.ingest.receiver import SUBSCRIPTIONS, subscriptions
from meterhub.ingest.shared import check_shared, worker_client_id
from meterhub.protocol.topics import shared_filter


def test_every_inbound_filter_is_shared_in_the_group() -> None:
    shared = subscriptions("g1")
    assert [t for t, _ in shared] == [f"$share/g1/{t}" for t, _ in SUBSCRIPTIONS]
    assert ("$share/g1/meter/+/data", 1) in shared
    assert subscriptions(None) == SUBSCRIPTIONS


@pytest.mark.parametrize("group", ["", "a/b", "a+", "#", "x" * 65])
def test_a_group_with_topic_syntax_is_refused(group: str) -> None:
    with pytest.raises(ValueError, match="must be 1-64 characters without / \\+ #"):
        shared_filter(group, "meter/+/data")


def test_worker_client_id_defaults_to_the_host_name() -> None:
    assert worker_client_id("w1") == "meterhub-ingest-w1"
    assert worker_client_id(None) == "meterhub-ingest-" + socket.gethostname().split(".")[0]
    with pytest.raises(ValueError, match="ingest name"):
        worker_client_id("a/b")


def test_shared_needs_postgresql() -> None:
    check_shared("g1", "postgresql://u@h/db")
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        check_shared("g1", "sqlite:///x.db")
