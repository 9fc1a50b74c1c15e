"""Schemathesis (a third-party API fuzzer) against the app's own OpenAPI document, as an
admin, a plain user and an anonymous caller: no server errors, every status code and
content type documented, every response matching its schema.

Deterministic (derandomized) and bounded: a few examples per operation. Runs on SQLite and
PostgreSQL (the `db_url` fixture): the databases differ in what they refuse (NUL
characters, integer ranges, text lengths), and a refusal must not become a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from meterhub.config import load_settings
from meterhub.db.migrate import upgrade
from meterhub.services import devices, tokens, users
from meterhub.web.app import build_context, create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


FUZZ = settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def fuzz_target(db_url: str, tmp_path: Path) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The app's OpenAPI document (as schemathesis loads it) and each role's headers, on
    each database."""
    data = tmp_path / "fuzz"
    cfg = load_settings(
        {
            "DATABASE_URL": db_url,
            "METERHUB_DATA_DIR": data,
            "ALLOWED_HOSTS": "localhost,testserver",
        }
    )
    ctx = build_context(cfg)
    upgrade(ctx.engine)
    with ctx.sessions() as db:
        root = users.create(db, None, "root", "root-pass-fuzz-1", role="admin")
        alice = users.create(db, None, "alice", "alice-pass-fuzz-1")
        device = devices.create(db, root, serial_number="FUZZ-1")
        devices.assign(db, root, device, alice)
        _, admin_token = tokens.create(db, root, ctx.secret, "fuzz", "admin", 1)
        _, user_token = tokens.create(db, alice, ctx.secret, "fuzz", "read", 1)
        db.commit()
    auth = {
        "admin": {"Authorization": f"Bearer {admin_token}"},
        "user": {"Authorization": f"Bearer {user_token}"},
        "anonymous": {},
    }
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx=ctx)), auth
    ctx.engine.dispose()


def fuzz(schema: Any, headers: dict[str, Any]) -> list[str]:
    """Every operation, a few positive and negative cases each; the failures found."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ
            @given(case=operation.as_strategy(mode))
            def run(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                continue  # no parameters to break: nothing negative to send
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # schemathesis raises exception groups; collect all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


@pytest.mark.parametrize("role", ["admin", "user", "anonymous"])
def test_api_conforms_to_its_document(role: str, fuzz_target: tuple[Any, dict[str, Any]]) -> None:
    schema, auth = fuzz_target
    failures = fuzz(schema, auth[role])
    assert not failures, "\n\n".join(failures)
