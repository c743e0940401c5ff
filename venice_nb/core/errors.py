"""One exception hierarchy for everything the client can raise, rooted in :class:`APIError`.

Shaped after openai-python: one class per HTTP status the contract lists, plus connection and
timeout errors, each carrying status, service code, message, request id and body. Client-side
validation errors are :class:`InvalidRequestError` (also a :class:`ValueError`, as the seed says).
Nothing here ever holds the API key: bodies and messages pass through :func:`redact` first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "IncompleteTranscriptionError",
    "InternalServerError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "StreamInterruptedError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "error_for_status",
    "is_fatal",
    "is_transient",
    "redact",
]

_SECRETS: set[str] = set()
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


def register_secret(secret: str | None) -> None:
    """Remember a secret (the API key) so that :func:`redact` removes it from any text."""
    if secret and len(secret) >= 4:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and any bearer token replaced by ``***``."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return _BEARER.sub(r"\1***", text)


def _redact_any(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_any(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_any(v) for v in value]
    return value


class APIError(Exception):
    """Base of every error raised by venice_nb's client."""

    status: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = redact(message)
        if status is not None:
            self.status = status
        self.code = code
        self.request_id = request_id
        self.body = _redact_any(body)
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        """The answer's headers (lower-cased; empty when there was no answer): the rate-limit
        hints a caller pacing many requests needs."""
        super().__init__(self.message)

    @property
    def status_code(self) -> int | None:
        """Alias of :attr:`status` (openai-python spelling)."""
        return self.status

    def __str__(self) -> str:
        parts = [self.message]
        extra = []
        if self.status is not None:
            extra.append(f"HTTP {self.status}")
        if self.code:
            extra.append(self.code)
        if self.request_id:
            extra.append(f"request {self.request_id}")
        if extra:
            parts.append(f"({', '.join(extra)})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"code={self.code!r}, request_id={self.request_id!r})"
        )

    def __reduce__(self) -> Any:
        return (
            _rebuild,
            (type(self), self.message, self.status, self.code, self.request_id, self.body),
        )


def _rebuild(
    cls: type[APIError],
    message: str,
    status: int | None,
    code: str | None,
    rid: str | None,
    body: Any,
) -> APIError:
    return cls(message, status=status, code=code, request_id=rid, body=body)


class InvalidRequestError(APIError, ValueError):
    """Bad input caught before any request was sent; the message says what to change."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message, code="INVALID_REQUEST")
        self.param = param

    def __reduce__(self) -> Any:
        return (type(self), (self.message,), {"param": self.param})


class APIResponseValidationError(APIError):
    """The server answered success, but not with what the API promises (HTML from a captive
    portal or proxy instead of audio, an empty body, JSON that breaks the schema)."""


class ResponseTooLargeError(APIResponseValidationError):
    """The answer is larger than its request can produce (a gzip bomb, an endless body, a proxy
    gone wrong): refused once it passes ``limit`` bytes, decompressed. ``received`` is how many
    bytes had come (or were declared) when it was refused, ``wire_bytes`` how many of them
    crossed the network (compressed), when known."""

    def __init__(
        self,
        message: str,
        *,
        limit: int = 0,
        received: int = 0,
        wire_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit
        self.received = received
        self.wire_bytes = wire_bytes

    def __reduce__(self) -> Any:
        return (
            _rebuild_too_large,
            (
                self.message,
                self.limit,
                self.received,
                self.wire_bytes,
                self.status,
                self.request_id,
            ),
        )


def _rebuild_too_large(
    message: str,
    limit: int,
    received: int,
    wire_bytes: int | None,
    status: int | None,
    rid: str | None,
) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        message,
        limit=limit,
        received=received,
        wire_bytes=wire_bytes,
        status=status,
        request_id=rid,
    )


class APIConnectionError(APIError):
    """The server could not be reached, or the connection dropped before an answer."""


class APITimeoutError(APIConnectionError):
    """The request took longer than its timeout."""


class StreamInterruptedError(APIConnectionError):
    """A streamed body broke after bytes had reached the caller, so it could not be retried."""


class APIStatusError(APIError):
    """The server answered with an error status."""


class BadRequestError(APIStatusError):
    status = 400


class AuthenticationError(APIStatusError):
    status = 401


class PaymentRequiredError(APIStatusError):
    status = 402


class PermissionDeniedError(APIStatusError):
    status = 403


class NotFoundError(APIStatusError):
    status = 404


class ConflictError(APIStatusError):
    status = 409


class PayloadTooLargeError(APIStatusError):
    status = 413


class UnsupportedMediaTypeError(APIStatusError):
    status = 415


class UnprocessableEntityError(APIStatusError):
    status = 422


class RateLimitError(APIStatusError):
    status = 429


class InternalServerError(APIStatusError):
    """Any 5xx answer."""

    status = 500


class IncompleteTranscriptionError(APIError):
    """Long audio transcribed in part: some pieces kept failing while the others were heard.

    ``transcript`` is what was heard, with true offsets (an
    :class:`~venice_nb.core.types.AudioTranscriptionResponse`); ``missing`` lists the time ranges
    it lacks, each a :class:`~venice_nb.core.types.TranscriptionGap` with the reason. Running the
    same call again sends only the missing pieces (the others are cached)."""

    def __init__(
        self,
        message: str,
        *,
        transcript: Any,
        missing: list[Any],
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id, body=body)
        self.transcript = transcript
        self.missing = list(missing)

    def __reduce__(self) -> Any:
        return (
            _rebuild_incomplete,
            (self.message, self.transcript, self.missing, self.status, self.code, self.request_id),
        )


def _rebuild_incomplete(
    message: str,
    transcript: Any,
    missing: list[Any],
    status: int | None,
    code: str | None,
    rid: str | None,
) -> IncompleteTranscriptionError:
    return IncompleteTranscriptionError(
        message, transcript=transcript, missing=missing, status=status, code=code, request_id=rid
    )


def is_transient(exc: APIError) -> bool:
    """True for failures worth retrying as they are (a 5xx, a lost connection, a timeout, 408,
    425); a 429 is paced separately, and any other 4xx needs the request changed."""
    if isinstance(exc, InternalServerError | APIConnectionError):
        return True
    return isinstance(exc, APIStatusError) and exc.status in (408, 425)


def is_fatal(exc: APIError) -> bool:
    """True for failures that doom every request of a run alike (key, credit, permission)."""
    return isinstance(exc, AuthenticationError | PaymentRequiredError | PermissionDeniedError)


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_HINTS: dict[int, str] = {
    401: "Check VENICE_API_KEY (or pass api_key=...).",
    402: "Top up your Venice balance or raise the key's spend limit.",
    413: "Uploads are limited to 25 MB; trim or re-encode the file.",
    429: "Slow down or raise max_retries; the client already waited and retried.",
}


def error_for_status(
    status: int,
    body: Any,
    *,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> APIStatusError:
    """Build the typed error for an HTTP error answer from its decoded body (and its headers)."""
    message = ""
    code: str | None = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):  # tolerate {"error": {"message": ..., "code": ...}}
            message = str(err.get("message", ""))
            code = err.get("code")
        elif err is not None:
            message = str(err)
        code = code or body.get("code")
        details = body.get("details")
        if isinstance(details, dict):
            # Servers often repeat the message in the details: add only what it does not say.
            problems = [
                p
                for p in _flatten_details(details)
                if p not in message and (p.partition(": ")[2] or p) not in message
            ]
            if problems:
                message = f"{message}: {'; '.join(problems)}" if message else "; ".join(problems)
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    if not message:
        message = f"The server answered HTTP {status}"
    hint = _HINTS.get(status)
    if hint and hint not in message:
        message = f"{message}. {hint}" if not message.endswith(".") else f"{message} {hint}"
    cls: type[APIStatusError] = _BY_STATUS.get(status) or (
        InternalServerError if status >= 500 else APIStatusError
    )
    return cls(message, status=status, code=code, request_id=request_id, body=body, headers=headers)


def _flatten_details(details: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in details.items():
        if key == "_errors" and isinstance(value, list):
            out.extend(f"{prefix}: {v}" if prefix else str(v) for v in value)
        elif isinstance(value, dict):
            out.extend(_flatten_details(value, f"{prefix}.{key}" if prefix else key))
    return out
