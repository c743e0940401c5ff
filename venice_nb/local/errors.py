"""The JSON errors the local server answers, shaped like the cloud's (``error``, ``code``, ``details``)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: HTTP status, one-sentence message, optional code, validation tree and
    extra headers (``Retry-After`` on refusals)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body: ``{"error": ..., "code": ..., "details": ...}`` (absent keys omitted)."""
        out: dict[str, Any] = {"error": self.message}
        if self.code:
            out["code"] = self.code
        if self.details is not None:
            out["details"] = self.details
        return out


class Abandoned(ConnectionResetError):
    """Engine work stopped because its client left; there is nobody to answer."""


class ValidationErrors:
    """Collects field errors into the cloud's tree: ``{"_errors": [], "field": {"_errors": [...]}}``."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {"_errors": []}

    def add(self, field: str | None, message: str) -> None:
        """Record one problem with ``field`` (None for the request as a whole)."""
        if field is None:
            self.tree["_errors"].append(message)
        else:
            self.tree.setdefault(field, {"_errors": []})["_errors"].append(message)

    def __bool__(self) -> bool:
        return len(self.tree) > 1 or bool(self.tree["_errors"])

    def raise_if_any(self) -> None:
        """Raise a 400 whose message names the first problem and whose details hold them all."""
        if self:
            raise self.error()

    def error(self) -> ApiError:
        """The 400 whose message names the first problem and whose details hold them all."""
        first = ""
        for key, value in self.tree.items():
            if key == "_errors":
                if value:
                    first = value[0]
                    break
                continue
            first = f"{key}: {value['_errors'][0]}"
            break
        return ApiError(400, f"Invalid request: {first}", "INVALID_REQUEST", self.tree)


def bad_request(field: str | None, message: str, code: str = "INVALID_REQUEST") -> ApiError:
    """A 400 about one field, with the validation tree the cloud sends."""
    errors = ValidationErrors()
    errors.add(field, message)
    return ApiError(400, message, code, errors.tree)
