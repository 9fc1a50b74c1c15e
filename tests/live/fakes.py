"""Fake transports for hub tests (no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson


class RecordingTransport:
    """Records frames; `gate` (when set) blocks sends until opened, like a full socket."""

    def __init__(self, blocked: bool = False) -> None:
        self.frames: list[list[dict[str, Any]]] = []
        self.closed: tuple[int, str | None] | None = None
        self.gate = asyncio.Event()
        if not blocked:
            self.gate.set()
        self.sends_started = 0

    async def send_text(self, data: str) -> None:
        self.sends_started += 1
        await self.gate.wait()
        self.frames.append(orjson.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [m for frame in self.frames for m in frame]
