"""Domain errors. Each knows its HTTP status; the API and the CLI both show `message`."""

from __future__ import annotations

from typing import Any


class MeterhubError(Exception):
    """Base class: a problem a person can act on."""

    status_code = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidInput(MeterhubError):
    status_code = 422


class NotAuthenticated(MeterhubError):
    status_code = 401


class Forbidden(MeterhubError):
    status_code = 403


class NotFound(MeterhubError):
    status_code = 404


class Conflict(MeterhubError):
    status_code = 409


class Throttled(MeterhubError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after
