"""Browser fixtures: the real app on a free port (uvicorn in a thread, SQLite in a temp dir,
demo data written through the ingest store) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser.appserver import AppServer
from tests.support import require

CHROMIUM = os.environ.get("METERHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ADMIN = ("boss", "boss-pass-1234")
USER = ("carol", "carol-pass-1234")
SERIALS = ["PZEM-0A0001", "PZEM-0B0002", "PZEM-0C0003"]  # carol sees the first two
HISTORY_DAYS = 40

pytestmark = pytest.mark.browser


@dataclass
class Demo:
    """The seeded server and what is in it."""

    server: AppServer
    url: str
    user_id: int
    serials: list[str] = field(default_factory=lambda: list(SERIALS))


@pytest.fixture(scope="package")  # torn down before other packages run
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One app for the whole browser session (tests create what they change)."""
    server = AppServer(Path(tmp_path_factory.mktemp("browser")))
    server.add_user(*ADMIN, role="admin", full_name="Bea Boss")
    user_id = server.add_user(*USER, full_name="Carol Jones")
    names = [("Kitchen", "Ground floor"), ("Heat pump", "Basement"), ("Workshop", "Garage")]
    for n, (serial, (name, place)) in enumerate(zip(SERIALS, names, strict=True)):
        server.add_device(serial, name, place, users=[user_id] if n < 2 else [])
    server.write_history(SERIALS, HISTORY_DAYS, interval_s=900, end_ts=time.time() - 60)
    server.start()
    yield Demo(server=server, url=server.url, user_id=user_id)
    server.stop()


@pytest.fixture(scope="package")  # torn down before other packages run
def browser() -> Iterator[Any]:
    require(Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - dev extra missing
        require(False, "playwright is not installed (pip install -e '.[dev]')")
        raise
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Tab:
    """A page plus the console errors and failed requests it produced."""

    def __init__(self, context: Any, base: str) -> None:
        self.context = context
        self.base = base
        self.page = context.new_page()
        self.page.set_default_timeout(10_000)
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} @ {message.location.get('url', '')}")

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def login(self, username: str, password: str, path: str = "/") -> None:
        self.goto(f"/login?next={path}")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("#login-submit")
        self.page.wait_for_url(lambda u: "/login" not in u)

    def wait_until(self, script: str, timeout: float = 10.0) -> None:
        """Poll a JS expression until it is truthy. (page.wait_for_function evaluates
        strings with eval, which the app's CSP rightly forbids.)"""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(f"() => Boolean({script})"):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {script}")
            self.page.wait_for_timeout(50)

    def assert_clean(self, allow: tuple[str, ...] = ()) -> None:
        bad = [e for e in self.errors if not any(a in e for a in allow)]
        assert bad == [], f"console errors: {bad}"


@pytest.fixture
def tab_factory(browser: Any, demo: Demo) -> Iterator[Any]:
    """tab_factory(width=1280, height=860, dark=False) -> a Tab in a fresh context."""
    contexts: list[Any] = []

    def make(width: int = 1280, height: int = 860, dark: bool = False) -> Tab:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            color_scheme="dark" if dark else "light",
            locale="en-US",
            timezone_id="Europe/Berlin",
        )
        contexts.append(context)
        return Tab(context, demo.url)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def admin_tab(tab_factory: Any) -> Tab:
    tab: Tab = tab_factory()
    tab.login(*ADMIN)
    return tab
