"""Typed errors carrying Pipedrive's own message, so callers branch on kind, not on text."""

from __future__ import annotations


class PipedriveError(Exception):
    """Pipedrive answered with an error envelope (or not at all)."""

    def __init__(
        self, message: str, *, status: int | None = None, method: str = "", path: str = ""
    ) -> None:
        super().__init__(f"{method} {path}: {message}" if method else message)
        self.message, self.status, self.method, self.path = message, status, method, path


class Unauthorized(PipedriveError):
    """The API token is missing or wrong (401)."""


class NotFound(PipedriveError):
    """The record does not exist (404)."""


class ValidationFailed(PipedriveError):
    """Pipedrive refused the payload (400/422); the message says why."""


class RateLimited(PipedriveError):
    """Over the burst limit after all retries (429)."""


class BudgetExhausted(PipedriveError):
    """The company's daily token budget is spent; resume after it resets."""

    def __init__(self, message: str, *, retry_after: float, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class TransientError(PipedriveError):
    """5xx or network failure that did not clear after retries."""


class ResponseLost(PipedriveError):
    """A create was sent but no answer came back: it may or may not exist. Check, then retry."""
