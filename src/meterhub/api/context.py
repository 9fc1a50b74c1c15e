"""Long-lived things the app's lifespan owns and hands to handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from meterhub.config import Settings


@dataclass
class AppContext:
    """Everything a request handler may need beyond the request itself."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secret: str
    extras: dict[str, Any] = field(default_factory=dict)
