"""Screenshots of the firmware's setup portal, served by the real firmware code under the
MicroPython Unix port (a virtual meter in portal mode), for docs/firmware.md.

Usage: .venv/bin/python scripts/portal_screenshots.py   (needs /usr/bin/chromium)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from meterhub.firmware.paths import tool
from meterhub.firmware.runner import micropython_env

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "screenshot-pw"  # noqa: S105 - a throwaway portal; it is always behind one
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Runs inside MicroPython, in a scratch flash directory: the firmware's own portal app.
SERVE = """
import asyncio, app, board, config, portal
from pzem_emulator import EmulatedUART, PzemEmulator
board.reboot = lambda delay_s=0: None
config.save({"portal_password": "%s"})
dev = app.Device(config.load(), uart=EmulatedUART(PzemEmulator()))
dev.mode = "portal"
asyncio.run(portal.make_app(dev).start_server(host="127.0.0.1", port=%d))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> int:
    port = free_port()
    with tempfile.TemporaryDirectory() as flash:
        script = Path(flash) / "serve_portal.py"
        script.write_text(SERVE % (PASSWORD, port))
        server = subprocess.Popen(
            [tool("micropython"), str(script)], cwd=flash, env=micropython_env()
        )
        try:
            for _ in range(50):
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.1)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                page = browser.new_page(
                    viewport={"width": 390, "height": 844},
                    http_credentials={"username": "admin", "password": PASSWORD},
                )
                for name, path in (("wifi", "/"), ("config", "/config"), ("status", "/status")):
                    page.goto(f"http://127.0.0.1:{port}{path}")
                    target = OUT / f"portal-{name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    print(f"wrote {target}")
                browser.close()
        finally:
            server.terminate()
            server.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
