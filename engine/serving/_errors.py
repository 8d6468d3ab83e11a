"""The endpoint's client errors: one JSON shape, `{"error", "limit"?, "hint"?}`."""

from __future__ import annotations

from automl.engine.errors import AutomlError


class RequestError(AutomlError):
    """A client error: `status` is the HTTP status to answer with; `limit` the bound a
    request went over, when that is the error."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        *,
        hint: str | None = None,
        limit: int | float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.limit = limit
        self.headers = headers or {}

    def body(self) -> dict:
        """The JSON answer: the message on one line, the limit and the hint when known."""
        body: dict = {"error": self.message}
        if self.limit is not None:
            body["limit"] = self.limit
        if self.hint:
            body["hint"] = self.hint
        return body
