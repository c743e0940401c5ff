"""What the offline server does around every handler: JSON error bodies, Host and Origin checks,
bearer-token checks per route, the enforced request-rate window, and the headers every answer
carries (request id, rate window, engine name).

``install`` wires it all onto an application. ``MIDDLEWARES`` runs outermost first; a new
request-wide check is one more middleware in that list. Admission to the engines
(``LocalService.admission``) is taken by the handlers once the body is read, so a slow upload
holds a connection, never an engine slot.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import ipaddress
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from .errors import Abandoned, ApiError
from .service import API_PREFIX, SERVICE_KEY, service_of
from .uploads import too_large

__all__ = [
    "AUTH_POLICIES",
    "ENGINE_HEADER",
    "MIDDLEWARES",
    "Auth",
    "Handler",
    "add_headers",
    "authenticate",
    "check_token",
    "install",
    "is_loopback_host",
    "json_errors",
    "protect",
    "rate_limit",
    "same_origin",
]

_LOG = logging.getLogger(__name__)

ENGINE_HEADER = "x-venice-nb-engine"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Auth(enum.Enum):
    """Whether a route wants the server's bearer token (when the server has one)."""

    REQUIRED = "required"
    """401 without ``Authorization: Bearer <token>``."""
    IF_SENT = "if_sent"
    """Public like the cloud's, but a wrong token that is sent is still refused."""


AUTH_POLICIES: web.AppKey[dict[web.AbstractResource, Auth]] = web.AppKey("venice_nb_auth", dict)
"""Each protected path's policy (all its methods, HEAD included); answers that match no route
(404, 405) need no token."""


def protect(app: web.Application, route: web.AbstractRoute, auth: Auth) -> None:
    """Record the token policy of ``route``'s path (``authenticate`` applies it)."""
    assert route.resource is not None
    app.setdefault(AUTH_POLICIES, {})[route.resource] = auth


def check_token(token: str | None, request: web.Request) -> None:
    """401 unless the request carries ``Authorization: Bearer <token>`` (when a token is set)."""
    if not token:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(
            401,
            "Authentication failed: send 'Authorization: Bearer <token>' with this server's token.",
            "AUTHENTICATION_FAILED",
        )
    if not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise ApiError(
            401,
            "Authentication failed: the bearer token is wrong; use the token this server was started with.",
            "AUTHENTICATION_FAILED",
        )


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answers JSON like the cloud's; bad input never becomes a 5xx."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        return _error_response(too_large(service_of(request.app).config.max_upload_bytes))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status)
        message = {
            404: f"Not found: {request.method} {request.path}; the local server offers {API_PREFIX}/models and {API_PREFIX}/audio/*.",
            405: f"Method {request.method} is not allowed on {request.path}.",
        }.get(exc.status, exc.reason)
        return _error_response(ApiError(exc.status, message, code))
    except Abandoned:
        service_of(request.app).abandoned += 1
        return web.Response(status=499, reason="Client Closed Request")  # nobody to read it
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:
        _LOG.exception("local engine failed on %s %s", request.method, request.path)
        return _error_response(
            ApiError(
                500,
                "The offline engine failed on this request; see the server log.",
                "INFERENCE_FAILED",
            )
        )


def _error_response(exc: ApiError) -> web.Response:
    response = web.json_response(exc.body(), status=exc.status, headers=exc.headers)
    if exc.status in (408, 413):  # the rest of the body is not read
        response.force_close()
    return response


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the matched route's token policy (see ``protect``) before its handler runs."""
    resource = request.match_info.route.resource
    policy = None if resource is None else request.app.get(AUTH_POLICIES, {}).get(resource)
    if policy is Auth.REQUIRED or (policy is Auth.IF_SENT and "Authorization" in request.headers):
        check_token(service_of(request.app).config.token, request)
    return await handler(request)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` (and its subdomains) and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _served_on_loopback(request: web.Request) -> bool:
    sockname: Any = request.transport.get_extra_info("sockname") if request.transport else None
    return isinstance(sockname, tuple) and bool(sockname) and is_loopback_host(str(sockname[0]))


@web.middleware
async def same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Protect the server from web pages on the same machine, as Jupyter Server does.

    Served on loopback, the ``Host`` must be a loopback name: a DNS-rebinding page (``Host:
    evil.example:8765`` resolved to 127.0.0.1) gets 403. A request from a browser page of another
    origin (an ``Origin`` header that is neither this server's nor in ``allow_origins``) gets 403
    too, so a page cannot post forms or read answers without a preflight.
    """
    host = request.host or ""
    if _served_on_loopback(request) and not is_loopback_host(urlsplit(f"//{host}").hostname or ""):
        raise ApiError(
            403,
            f"Host {host!r} is not allowed: this server answers only to 127.0.0.1 or localhost.",
            "FORBIDDEN",
        )
    origin = request.headers.get("Origin")
    if origin is not None:
        own = f"{request.scheme}://{host}".lower()
        allowed = {own, *(o.lower() for o in service_of(request.app).config.allow_origins)}
        if origin.rstrip("/").lower() not in allowed:
            raise ApiError(
                403,
                f"Requests from the web page origin {origin!r} are not allowed; start the server "
                "with VENICE_NB_ALLOW_ORIGINS or --allow-origin to allow it.",
                "FORBIDDEN",
            )
    return await handler(request)


@web.middleware
async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every request to an API route in the rate window; 429 with Retry-After past it."""
    resource = request.match_info.route.resource
    if resource is not None and resource in request.app.get(AUTH_POLICIES, {}):
        service_of(request.app).rate.admit()
    return await handler(request)


MIDDLEWARES: tuple[Middleware, ...] = (json_errors, same_origin, authenticate, rate_limit)
"""Outermost first: ``json_errors`` must stay first so every later refusal answers JSON."""


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers on every answer, streamed ones included (so a prepare hook, not a middleware)."""
    service = request.app.get(SERVICE_KEY)
    if service is not None:
        response.headers.update(service.rate.headers())
    response.headers["x-request-id"] = uuid.uuid4().hex
    response.headers[ENGINE_HEADER] = "offline"


def install(app: web.Application) -> None:
    """Put the middlewares and the header hook on ``app`` (before its routes are frozen)."""
    app.middlewares.extend(MIDDLEWARES)
    app.on_response_prepare.append(add_headers)
