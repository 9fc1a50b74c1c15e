"""TOTP second factor: enrol, log in with a code, recovery codes work once, admin reset,
and REQUIRE_ADMIN_2FA. Codes come from pyotp, as an authenticator app computes them."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import pyotp
import segno

from meterhub.config import load_settings
from meterhub.context import AppContext
from meterhub.web.app import create_app
from tests.api.conftest import login


def enrol(api: Any) -> tuple[str, list[str]]:
    setup = api.post("/api/auth/totp/setup")
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    assert setup.json()["otpauth_uri"].startswith("otpauth://totp/meterhub:")
    check_qr(setup.json())
    wrong = api.post("/api/auth/totp/confirm", json={"code": "000000"})
    assert wrong.status_code == 422
    done = api.post("/api/auth/totp/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.text
    codes: list[str] = done.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


def check_qr(setup: dict[str, Any]) -> None:
    """The QR code is an SVG of the otpauth URI: a square as wide as that URI's symbol."""
    root = ElementTree.fromstring(setup["qr_svg"])  # noqa: S314 (our own server's output)
    assert root.tag.endswith("svg") and root.find(".//{*}path") is not None
    side = segno.make(setup["otpauth_uri"], error="m").symbol_size(scale=4, border=4)
    assert (int(root.get("width", "0")), int(root.get("height", "0"))) == side
    assert setup["secret"] in setup["otpauth_uri"]


def attempt(client: Any, code: str | None = None) -> Any:
    body = {"username": "alice", "password": "alice-pass-1234"}
    if code is not None:
        body["totp_code"] = code
    return client.post("/api/auth/login", json=body)


def test_login_needs_the_code_once_enrolled(make_user: Any, raw_client: Any) -> None:
    alice = make_user("alice")
    secret, codes = enrol(alice)
    assert alice.get("/api/auth/me").json()["totp_enabled"] is True
    client = raw_client()
    res = attempt(client)
    assert res.status_code == 401 and res.json()["code"] == "totp_required"
    assert attempt(client, "123456").status_code == 401
    assert attempt(client, pyotp.TOTP(secret).now()).status_code == 200
    # a recovery code works once
    assert attempt(raw_client(), codes[0]).status_code == 200
    assert attempt(raw_client(), codes[0]).status_code == 401


def test_an_admin_resets_a_lost_second_factor(
    admin_api: Any, make_user: Any, raw_client: Any
) -> None:
    alice = make_user("alice")
    enrol(alice)
    assert admin_api.delete(f"/api/users/{alice.user['id']}/totp").status_code == 204
    assert attempt(raw_client()).status_code == 200


def test_required_for_admins_when_the_install_says_so(
    ctx: AppContext, settings: Any, admin_api: Any, raw_client: Any
) -> None:
    strict = load_settings({**settings.model_dump(), "REQUIRE_ADMIN_2FA": True})
    ctx.settings = strict
    app = create_app(ctx=ctx)
    client = admin_api.client.__class__(app, base_url="http://testserver")
    login(client, "root", "admin-pass-1234")
    res = client.get("/api/devices")
    assert res.status_code == 403 and res.json()["code"] == "totp_setup_required"
    secret = client.post("/api/auth/totp/setup").json()["secret"]
    client.post("/api/auth/totp/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert client.get("/api/devices").status_code == 200
    assert client.delete("/api/auth/totp").status_code == 403  # cannot turn it off
