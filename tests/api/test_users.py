"""Users API (admins): create, read, update, delete, and the rules that keep an admin."""

from __future__ import annotations

from typing import Any

import pytest

from meterhub.context import AppContext
from meterhub.errors import Conflict, Forbidden
from meterhub.services import users

USER_FIELDS = {"id", "username", "email", "full_name", "role", "disabled", "must_change_password"}


def test_crud(admin_api: Any, raw_client: Any) -> None:
    res = admin_api.post(
        "/api/users",
        json={
            "username": "carol",
            "password": "carol-pass-1234",
            "email": "carol@example.com",
            "full_name": "Carol C",
        },
    )
    assert res.status_code == 201, res.text
    carol = res.json()
    assert set(carol) >= USER_FIELDS and "password" not in carol and "password_hash" not in carol
    assert carol["role"] == "user" and carol["must_change_password"] is True  # by default

    assert admin_api.get(f"/api/users/{carol['id']}").json()["email"] == "carol@example.com"
    names = [u["username"] for u in admin_api.get("/api/users").json()]
    assert names == sorted(names) and "carol" in names

    res = admin_api.put(
        f"/api/users/{carol['id']}", json={"full_name": "Carol D", "role": "admin", "email": None}
    )
    assert res.status_code == 200, res.text
    assert (res.json()["full_name"], res.json()["role"], res.json()["email"]) == (
        "Carol D",
        "admin",
        None,
    )

    assert admin_api.delete(f"/api/users/{carol['id']}").status_code == 204
    gone = admin_api.get(f"/api/users/{carol['id']}")
    assert gone.status_code == 404 and "not found" in gone.json()["error"]
    assert admin_api.delete(f"/api/users/{carol['id']}").status_code == 404
    assert (
        raw_client()
        .post("/api/auth/login", json={"username": "carol", "password": "carol-pass-1234"})
        .status_code
        == 401
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"username": "root", "password": "long-enough-1"}, 409, "username"),
        ({"username": "ROOT", "password": "long-enough-1"}, 409, "username"),  # case-insensitive
        ({"username": "carol", "password": "seven77"}, 422, "password"),
        ({"username": "carolcarol", "password": "CarolCarol"}, 422, "password"),
        ({"username": "bad name!", "password": "long-enough-1"}, 422, "username"),
        ({"username": "ca", "password": "long-enough-1"}, 422, "username"),
        ({"username": "carol", "password": "long-enough-1", "role": "root"}, 422, "role"),
        ({"username": "carol", "password": "long-enough-1", "email": "nope"}, 422, "email"),
        (
            {"username": "carol", "password": "long-enough-1", "timezone": "Nowhere/X"},
            422,
            "timezone",
        ),
        ({"username": "carol", "password": "long-enough-1", "admin": True}, 422, "admin"),
        ({"username": "carol"}, 422, "password"),
    ],
)
def test_create_refusals(admin_api: Any, body: dict[str, Any], status: int, field: str) -> None:
    res = admin_api.post("/api/users", json=body)
    assert res.status_code == status, res.text
    assert res.json()["field"] == field, res.text
    assert res.json()["error"]


def test_update_refusals(admin_api: Any, make_user: Any) -> None:
    bob = make_user("bob")
    url = f"/api/users/{bob.user['id']}"
    for body, field in [
        ({"disabled": None}, "disabled"),
        ({"role": None}, "role"),
        ({"must_change_password": None}, "must_change_password"),
        ({"password": "short"}, "password"),
        ({"role": "boss"}, "role"),
        ({"username": "renamed"}, "username"),
    ]:
        res = admin_api.put(url, json=body)
        assert res.status_code == 422, (body, res.text)
        assert res.json()["field"] == field
    assert admin_api.put("/api/users/999999", json={"full_name": "x"}).status_code == 404
    assert admin_api.get("/api/users/0").status_code == 422
    assert admin_api.get("/api/users/99999999999999999999").status_code == 422


def test_admin_cannot_delete_demote_or_disable_themselves(admin_api: Any) -> None:
    me = admin_api.get("/api/auth/me").json()
    url = f"/api/users/{me['id']}"
    for res in (
        admin_api.delete(url),
        admin_api.put(url, json={"role": "user"}),
        admin_api.put(url, json={"disabled": True}),
    ):
        assert res.status_code == 403, res.text
        assert "yourself" in res.json()["error"]
    assert admin_api.get("/api/auth/me").json()["role"] == "admin"
    # Harmless self-edits are fine.
    assert admin_api.put(url, json={"full_name": "Root"}).status_code == 200


def test_other_admins_can_be_demoted_while_one_remains(admin_api: Any, make_user: Any) -> None:
    second = make_user("second", role="admin")
    url = f"/api/users/{second.user['id']}"
    assert admin_api.put(url, json={"disabled": True}).status_code == 200
    assert admin_api.put(url, json={"disabled": False}).status_code == 200
    assert admin_api.put(url, json={"role": "user"}).status_code == 200
    assert admin_api.delete(url).status_code == 204


def test_the_last_admin_is_kept(ctx: AppContext) -> None:
    """Through the API the actor is always another live admin, so the last-admin rule
    guards the CLI and scripts (actor None)."""
    with ctx.sessions() as db:
        only = users.create(db, None, "only", "only-pass-1234", role="admin")
        spare = users.create(db, None, "spare", "spare-pass-1234", role="admin", disabled=True)
        for action in (
            lambda: users.delete_user(db, None, only),
            lambda: users.update(db, None, only, {"role": "user"}),
            lambda: users.update(db, None, only, {"disabled": True}),
        ):
            with pytest.raises(Conflict, match="last admin"):
                action()
        with pytest.raises(Forbidden, match="yourself"):
            users.delete_user(db, only, only)
        users.update(db, None, spare, {"disabled": False})
        users.update(db, None, only, {"role": "user"})  # now there is another admin
        assert only.role == "user"
        db.rollback()
