"""The async client: one aiohttp session, authentication, timeouts and retries.

Resources (``client.audio``, ``client.models``) build requests; this module sends them. The
retry loop lives here and only here: 429/5xx answers and connection failures are retried with
exponential backoff and jitter, honouring ``Retry-After`` and ``x-ratelimit-reset-requests``;
a streamed body is never retried once its first byte reached the caller.
"""

from __future__ import annotations

import asyncio
import email.utils
import json as jsonlib
import logging
import math
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp
from pydantic import BaseModel

from ._version import __version__
from .audioinfo import speech_answer_bytes, speech_answer_seconds
from .errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    InvalidRequestError,
    ResponseTooLargeError,
    StreamInterruptedError,
    error_for_status,
    redact,
    register_secret,
)

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "AnswerLimit", "VeniceClient"]

DEFAULT_BASE_URL = "https://api.venice.ai/api/v1"
DEFAULT_TIMEOUT = 120.0
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF = 30.0
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
"""Largest answer read (after decompression) whatever the request: the ceiling above the cap each
request gets from what it can produce (:meth:`VeniceClient.answer_limit`)."""
SMALL_ANSWERS: dict[str, tuple[int, str]] = {
    "/models": (8 * 1024 * 1024, "a model list (the published catalog is under 10 KB)"),
    "/audio/transcriptions": (
        32 * 1024 * 1024,
        "a transcript of at most 25 MB of audio (hours of speech with word times are a few MB)",
    ),
    "/audio/voices": (1024 * 1024, "a cloned voice's id"),
}
"""Caps of the JSON answers, by path: generous for what each endpoint returns, and small."""
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 60.0
"""Longest server wait hint honoured; a longer (or unreadable) one uses the client's backoff."""

logger = logging.getLogger("venice_nb")

Timeout = float | aiohttp.ClientTimeout | None
Expect = Literal["json", "text", "bytes"]


def _to_timeout(value: Timeout, *, stream: bool = False) -> aiohttp.ClientTimeout | None:
    if value is None or isinstance(value, aiohttp.ClientTimeout):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidRequestError(
            f"timeout must be a positive number of seconds or aiohttp.ClientTimeout, got {value!r}.",
            param="timeout",
        )
    seconds = float(value)
    if stream:  # a long stream may take longer than `seconds` in all; each read may not
        return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)
    return aiohttp.ClientTimeout(total=seconds)


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class AnswerLimit:
    """The most bytes (decompressed) an answer may hold, and what its request can produce, in
    words for the error that refuses a larger one."""

    nbytes: int
    why: str


def _speech_limit(body: dict[str, Any]) -> AnswerLimit:
    chars = len(body["input"])
    model = body.get("model") if isinstance(body.get("model"), str) else None
    fmt = body.get("response_format") if isinstance(body.get("response_format"), str) else None
    raw_speed = body.get("speed")
    speed = float(raw_speed) if isinstance(raw_speed, int | float) and raw_speed > 0 else None
    nbytes = speech_answer_bytes(chars, model, fmt, speed)
    pace = f" at speed {speed:g}" if speed is not None else ""
    what = (
        f"{fmt} speech request{pace}" if fmt else f"speech request{pace} (no format: wav at worst)"
    )
    return AnswerLimit(
        nbytes,
        f"a {chars:,}-character {what} makes at most about "
        f"{speech_answer_seconds(chars, speed):,.0f} s of audio, {nbytes:,} bytes",
    )


class RawResponse:
    """A finished answer: status, headers and body already read."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream").split(";")[0].strip()

    @property
    def request_id(self) -> str | None:
        return _request_id(self.headers)

    def json(self) -> Any:
        try:
            return jsonlib.loads(self.body)
        except ValueError as exc:
            raise APIResponseValidationError(
                f"The server answered HTTP {self.status} with {self.content_type}, not JSON "
                "(a captive portal, a proxy, or VENICE_BASE_URL pointing elsewhere?).",
                status=self.status,
                request_id=self.request_id,
                body=self.body[:500].decode("utf-8", "replace"),
            ) from exc

    def parse(self, model: type[M], what: str) -> M:
        """The JSON body as ``model``; an answer that breaks the schema is a typed error."""
        data = self.json()
        try:
            return model.model_validate(data)
        except ValueError as exc:  # pydantic.ValidationError
            first = str(exc).splitlines()[1:3]
            raise APIResponseValidationError(
                f"The server's answer to {what} does not match the API ({' '.join(first)}).",
                status=self.status,
                request_id=self.request_id,
                body=data,
            ) from exc

    def audio_check(self) -> None:
        """Refuse a success answer that is not audio (HTML, a JSON body, nothing at all)."""
        check_audio_answer(self.content_type, len(self.body), self.status, self.request_id)


def check_audio_answer(
    content_type: str, size: int | None, status: int, request_id: str | None
) -> None:
    """Raise :class:`APIResponseValidationError` unless the answer can be audio."""
    if not (content_type.startswith("audio/") or content_type == "application/octet-stream"):
        raise APIResponseValidationError(
            f"The server answered HTTP {status} with {content_type} instead of audio (a captive "
            "portal, a proxy, or VENICE_BASE_URL pointing elsewhere?).",
            status=status,
            request_id=request_id,
        )
    if size == 0:
        raise APIResponseValidationError(
            f"The server answered HTTP {status} with an empty body instead of audio; retry later.",
            status=status,
            request_id=request_id,
        )


def _request_id(headers: Any) -> str | None:
    for name in ("x-request-id", "x-venice-request-id", "cf-ray"):
        value = headers.get(name)
        if value:
            return str(value)
    return None


class VeniceClient:
    """Async client for the Venice audio API.

    ``async with VeniceClient() as client: audio = await client.audio.create_speech(...)``.
    ``api_key`` falls back to ``VENICE_API_KEY``, ``base_url`` to ``VENICE_BASE_URL`` and then to
    the public service. ``timeout`` (seconds or ``aiohttp.ClientTimeout``) applies to every call
    unless a call passes its own; ``max_retries`` retries transient failures, waiting about
    ``backoff`` seconds before the first retry and doubling each time (a server's wait hint wins
    when it is between 0 and 60 s). An answer larger than its request can produce (a speech
    answer by its input's length, format and speed; a JSON answer a few MB; never more than
    ``max_response_bytes``, decompressed) raises
    :class:`~venice_nb.core.errors.ResponseTooLargeError`, and other success answers that are
    not what the API promises :class:`~venice_nb.core.errors.APIResponseValidationError`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        *,
        models_cache_ttl: float = 300.0,
        backoff: float = 0.5,
        default_headers: dict[str, str] | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._api_key = api_key if api_key is not None else os.environ.get("VENICE_API_KEY") or None
        register_secret(self._api_key)
        self.base_url = (base_url or os.environ.get("VENICE_BASE_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        if not self.base_url.startswith(("http://", "https://")):
            raise InvalidRequestError(
                f"base_url must start with http:// or https://, got {self.base_url!r}.",
                param="base_url",
            )
        if self._api_key is None and self.base_url == DEFAULT_BASE_URL:
            raise InvalidRequestError(
                "No API key: set VENICE_API_KEY or pass api_key=...; to work offline use "
                "venice_nb.session.new_client() (the local engine) or set VENICE_BASE_URL.",
                param="api_key",
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidRequestError(
                f"max_retries must be a whole number >= 0, got {max_retries!r}.",
                param="max_retries",
            )
        if isinstance(backoff, bool) or not isinstance(backoff, int | float) or not backoff >= 0:
            raise InvalidRequestError(
                f"backoff must be a number of seconds >= 0, got {backoff!r}.", param="backoff"
            )
        self.timeout = _to_timeout(timeout)
        # A stream may run longer than `timeout` in all; each of its reads may not.
        self._stream_timeout = _to_timeout(timeout, stream=True)
        if (
            isinstance(max_response_bytes, bool)
            or not isinstance(max_response_bytes, int)
            or (max_response_bytes < 1)
        ):
            raise InvalidRequestError(
                f"max_response_bytes must be a whole number > 0, got {max_response_bytes!r}.",
                param="max_response_bytes",
            )
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_response_bytes = max_response_bytes
        self.models_cache_ttl = models_cache_ttl
        self._default_headers = dict(default_headers or {})
        self._session: aiohttp.ClientSession | None = None
        self._owns_session = True

        from .audio import Audio
        from .models import Models

        self.audio = Audio(self)
        self.models = Models(self)

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> VeniceClient:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"VeniceClient(base_url={self.base_url!r}, api_key={key}, max_retries={self.max_retries})"

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"User-Agent": f"venice-nb/{__version__}", **self._default_headers}
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=self.timeout or aiohttp.ClientTimeout(total=None),
                connector=aiohttp.TCPConnector(limit=64),
            )
        return self._session

    def answer_limit(self, method: str, path: str, json: Any = None) -> AnswerLimit:
        """The cap an answer to ``method path`` is read under: what its request can produce (a
        speech answer from its input length, format, model and speed; JSON answers a few MB),
        never above ``max_response_bytes``."""
        limit: AnswerLimit | None = None
        body = json if isinstance(json, dict) else {}
        if method == "POST" and path == "/audio/speech" and isinstance(body.get("input"), str):
            limit = _speech_limit(body)
        elif path in SMALL_ANSWERS:
            nbytes, what = SMALL_ANSWERS[path]
            limit = AnswerLimit(nbytes, f"{what}: at most {nbytes:,} bytes")
        if limit is None or limit.nbytes > self.max_response_bytes:
            return AnswerLimit(
                self.max_response_bytes,
                f"answers are capped at max_response_bytes ({self.max_response_bytes:,} bytes)",
            )
        return limit

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    # -- retry policy ------------------------------------------------------------------------
    def retry_delay(
        self, attempt: int, headers: Any | None = None, status: int | None = None
    ) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): the answer's ``Retry-After`` (or
        rate-limit reset, for a 429) when it lies within 0-60 s, else the client's jittered
        exponential backoff. For callers that retry themselves, as batches do."""
        if headers is not None:
            hinted = _retry_after_seconds(headers, rate_limited=status == 429)
            # As openai-python: a hint is honoured only between 0 and 60 s; "nan", "soon" or an
            # hour away fall back to the client's own jittered backoff.
            if hinted is not None and 0.0 <= hinted <= MAX_RETRY_AFTER:
                return hinted
        base: float = min(self.backoff * 2 ** (attempt - 1), 8.0)
        return base * (0.75 + random.random() * 0.5)

    async def _sleep_before_retry(
        self,
        attempt: int,
        headers: Any | None,
        reason: str,
        method: str,
        path: str,
        status: int | None = None,
    ) -> None:
        delay = self.retry_delay(attempt, headers, status)
        logger.info(
            "venice_nb: %s %s failed (%s); retry %d/%d in %.2fs",
            method,
            path,
            reason,
            attempt,
            self.max_retries,
            delay,
        )
        await asyncio.sleep(delay)

    # -- requests ----------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        data: Callable[[], Any] | None = None,
        timeout: Timeout = None,
        retries: int | None = None,
    ) -> RawResponse:
        """Send a request with retries and return the whole answer; raise a typed error on failure.

        ``data`` is a factory (called once per attempt) so an upload can be re-sent after a retry.
        """
        session = self._ensure_session()
        url = self.base_url + path
        req_timeout = _to_timeout(timeout) if timeout is not None else None
        limit = self.answer_limit(method, path, json)

        async def once() -> tuple[int, dict[str, str], bytes]:
            kwargs: dict[str, Any] = {"headers": self._auth_headers(), "params": params}
            if json is not None:
                kwargs["json"] = json
            if data is not None:
                kwargs["data"] = data()
            if req_timeout is not None:
                kwargs["timeout"] = req_timeout
            kwargs["max_redirects"] = MAX_REDIRECTS
            async with session.request(method, url, **kwargs) as resp:
                body = await _read_capped(resp, limit, f"{method} {path}")
                return resp.status, _lower(resp.headers), body

        budget = self.max_retries if retries is None else retries
        status, headers, body, _ = await self._with_retries(method, path, once, budget=budget)
        return RawResponse(status, headers, body)

    async def _with_retries(
        self,
        method: str,
        path: str,
        once: Callable[[], Awaitable[tuple[int, dict[str, str], Any]]],
        *,
        budget: int,
        attempt: int = 0,
    ) -> tuple[int, dict[str, str], Any, int]:
        """The one retry loop: run ``once`` until it answers below 400 or the budget is spent.

        ``once`` returns (status, lower-cased headers, payload); for an error status the payload
        must be the body's bytes. Returns the answer and the number of the last attempt.
        """
        while True:
            try:
                status, headers, payload = await once()
            except aiohttp.TooManyRedirects as exc:  # a loop does not end by retrying it
                raise APIConnectionError(
                    f"{method} {path} was redirected more than {MAX_REDIRECTS} times (a redirect "
                    "loop); check VENICE_BASE_URL.",
                ) from exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                if attempt < budget:
                    attempt += 1
                    reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
                    await self._sleep_before_retry(attempt, None, reason, method, path)
                    continue
                if isinstance(exc, TimeoutError):
                    raise APITimeoutError(
                        f"{method} {path} timed out after {attempt + 1} attempt(s); raise "
                        "timeout= or check the server.",
                    ) from exc
                raise APIConnectionError(
                    f"Could not reach {self.base_url} ({type(exc).__name__}: "
                    f"{redact(str(exc)) or 'connection failed'}) after {attempt + 1} attempt(s).",
                ) from exc
            logger.debug(
                "venice_nb: %s %s -> %s (request %s)", method, path, status, _request_id(headers)
            )
            if status < 400:
                return status, headers, payload, attempt
            if status in RETRYABLE_STATUS and attempt < budget:
                attempt += 1
                await self._sleep_before_retry(
                    attempt, headers, f"HTTP {status}", method, path, status
                )
                continue
            raise error_for_status(
                status,
                _decode_body(payload, headers),
                request_id=_request_id(headers),
                headers=headers,
            )

    async def stream(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: Timeout = None,
    ) -> StreamedResponse:
        """Open a streamed answer: the status is checked (and retried) now, the body read later."""
        resp = StreamedResponse(self, method, path, json, timeout)
        await resp._open()
        return resp


async def _read_capped(resp: aiohttp.ClientResponse, limit: AnswerLimit, what: str) -> bytes:
    """The whole body, refused as soon as it passes ``limit`` (decompressed).

    aiohttp inflates a compressed body a bounded piece at a time as it is read, so stopping at
    the limit stops the inflating too. The body grows in place in one bytearray (no list of
    chunks joined into a second full-size copy) and is handed back as one ``bytes``.
    """
    declared = resp.content_length
    if declared is not None and declared > limit.nbytes:
        raise _too_large(limit, resp, what, declared=declared)
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(1 << 16):
        if len(buf) + len(chunk) > limit.nbytes:
            raise _too_large(limit, resp, what, received=len(buf) + len(chunk))
        buf += chunk
    return bytes(buf)


def _too_large(
    limit: AnswerLimit,
    resp: aiohttp.ClientResponse,
    what: str,
    *,
    received: int = 0,
    declared: int | None = None,
) -> ResponseTooLargeError:
    """The error that refuses an answer: what the request could produce, and what came."""
    wire: int | None = None
    if declared is not None:
        came = f"the server declared {declared:,} bytes"
        received = declared
    else:
        wire = getattr(resp.content, "total_raw_bytes", None)
        encoding = resp.headers.get("Content-Encoding", "")
        on_wire = f", from {wire:,} {encoding} bytes on the wire" if wire and encoding else ""
        came = f"more than {limit.nbytes:,} bytes came ({received:,} read{on_wire})"
    return ResponseTooLargeError(
        f"The answer to {what} is larger than its request can produce: {limit.why}, but "
        f"{came}. Refused (a misbehaving server or proxy?).",
        limit=limit.nbytes,
        received=received,
        wire_bytes=wire,
        status=resp.status,
        request_id=_request_id(resp.headers),
    )


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _decode_body(body: bytes, headers: dict[str, str]) -> Any:
    text = body.decode("utf-8", "replace")
    if "json" in headers.get("content-type", "") or text.lstrip().startswith("{"):
        try:
            return jsonlib.loads(text)
        except ValueError:
            pass
    return text


def _retry_after_seconds(headers: Any, *, rate_limited: bool = False) -> float | None:
    """The server's wait hint: ``Retry-After``, and for a 429 ``x-ratelimit-reset-requests``."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value:
        try:
            seconds = float(value)
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            seconds = parsed.timestamp() - time.time()
        return seconds if math.isfinite(seconds) else None
    reset = headers.get("x-ratelimit-reset-requests") if rate_limited else None
    if reset:
        try:
            at = float(reset)
        except ValueError:
            return None
        if not math.isfinite(at):
            return None
        # Unix time per the contract; small numbers are treated as seconds from now.
        return at - time.time() if at > 1e9 else at
    return None


class StreamedResponse:
    """A streamed answer whose body is yielded chunk by chunk as it arrives, never buffered.

    Failures before the first byte reaches the caller are retried like any request; after that,
    a broken body raises :class:`StreamInterruptedError`.
    """

    def __init__(
        self, client: VeniceClient, method: str, path: str, json: Any, timeout: Timeout
    ) -> None:
        self._client = client
        self._method = method
        self._path = path
        self._json = json
        self._timeout = (
            _to_timeout(timeout, stream=True) if timeout is not None else client._stream_timeout
        )
        self._resp: aiohttp.ClientResponse | None = None
        self._attempt = 0
        self.limit = client.answer_limit(method, path, json)
        """The cap the body is read under (what the request can produce)."""
        self.headers: dict[str, str] = {}
        self.status = 0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream").split(";")[0].strip()

    @property
    def request_id(self) -> str | None:
        return _request_id(self.headers)

    async def _open(self) -> None:
        client = self._client
        session = client._ensure_session()
        url = client.base_url + self._path

        async def once() -> tuple[int, dict[str, str], Any]:
            resp = await session.request(
                self._method,
                url,
                json=self._json,
                headers=client._auth_headers(),
                timeout=self._timeout,
                max_redirects=MAX_REDIRECTS,
            )
            if resp.status < 400:
                return resp.status, _lower(resp.headers), resp  # the body is read later
            try:
                body = await _read_capped(resp, self.limit, f"{self._method} {self._path}")
            except aiohttp.ClientError:
                body = b""
            finally:
                resp.release()
            return resp.status, _lower(resp.headers), body

        self.status, self.headers, self._resp, self._attempt = await client._with_retries(
            self._method, self._path, once, budget=client.max_retries, attempt=self._attempt
        )

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yield body chunks as they arrive."""
        sent_any = False
        size = 0
        try:
            while True:
                assert self._resp is not None
                try:
                    async for chunk in self._resp.content.iter_any():
                        if chunk:
                            size += len(chunk)
                            if size > self.limit.nbytes:
                                raise _too_large(
                                    self.limit,
                                    self._resp,
                                    f"{self._method} {self._path}",
                                    received=size,
                                )
                            sent_any = True
                            yield chunk
                    return
                except (TimeoutError, aiohttp.ClientError) as exc:
                    self._resp.release()
                    self._resp = None
                    if sent_any:
                        raise StreamInterruptedError(
                            f"The audio stream broke after part of it was delivered "
                            f"({type(exc).__name__}); it cannot be resumed, so request it again.",
                            request_id=self.request_id,
                        ) from exc
                    if self._attempt >= self._client.max_retries:
                        cls = (
                            APITimeoutError if isinstance(exc, TimeoutError) else APIConnectionError
                        )
                        raise cls(
                            f"The audio stream failed before any byte arrived "
                            f"({type(exc).__name__}) after {self._attempt + 1} attempt(s).",
                            request_id=self.request_id,
                        ) from exc
                    self._attempt += 1
                    await self._client._sleep_before_retry(
                        self._attempt, None, type(exc).__name__, self._method, self._path
                    )
                    await self._open()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._resp is not None:
            self._resp.release()
            self._resp = None
