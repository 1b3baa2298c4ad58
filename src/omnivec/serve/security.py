"""ASGI middlewares that run before any route: API keys, body size, response headers.

* :class:`APIKeyMiddleware`: when keys are configured, every ``/v1/`` route needs
  ``Authorization: Bearer <key>`` (compared in constant time); the page, its static files, ``/health`` and
  ``/metrics`` stay public. Checked before the body is read, so an unauthenticated client cannot make the
  server parse anything.
* :class:`BodySizeLimitMiddleware`: 413 when ``Content-Length`` is over the limit, and while streaming
  a body without one (chunked) as soon as the running count passes it.
* :class:`SecurityHeadersMiddleware`: ``nosniff``, no framing, no referrer; a strict Content-Security-Policy
  on the page (scripts and styles from this server only; images from it, ``blob:`` and ``data:``).

Where media may come from is :class:`omnivec.inputs.ItemProcessor`'s rule, applied per item: no URLs ever,
local paths only inside ``media_root``.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnivec.serve.errors import APIError, error_response

__all__ = ["APIKeyMiddleware", "BodySizeLimitMiddleware", "SecurityHeadersMiddleware", "key_matches"]

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def key_matches(given: str, keys: Sequence[str]) -> bool:
    """Constant-time membership of ``given`` in ``keys`` (every key is compared)."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(given.encode(), key.encode())
    return found


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class APIKeyMiddleware:
    """401 on ``/v1/`` routes without a configured Bearer key (see the module docstring)."""

    def __init__(self, app: ASGIApp, keys: Sequence[str], protected_prefix: str = "/v1/") -> None:
        self.app = app
        self.keys = tuple(keys)
        self.prefix = protected_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.keys and scope["path"].startswith(self.prefix):
            auth = _header(scope, b"authorization") or ""
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                message, code = "missing API key: send 'Authorization: Bearer <key>'", "missing_api_key"
            elif not key_matches(token.strip(), self.keys):
                message, code = "incorrect API key provided", "invalid_api_key"
            else:
                message = code = ""
            if message:
                response = error_response(
                    401, message, type="authentication_error", code=code,
                    headers={"WWW-Authenticate": 'Bearer realm="omnivec"'},
                )  # fmt: skip
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTooLarge(APIError):
    """Raised from ``receive`` when a streamed body passes the limit (handled as a 413 answer)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"request body is larger than max_body_bytes={limit}", param=None, code="body_too_large"
        )


class BodySizeLimitMiddleware:
    """413 for bodies over ``max_bytes`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                too_large = int(length) > self.max_bytes
            except ValueError:
                await error_response(400, "invalid Content-Length header", code="bad_header")(
                    scope, receive, send
                )
                return
            if too_large:
                await BodyTooLarge(self.max_bytes).response()(scope, receive, send)
                return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


class SecurityHeadersMiddleware:
    """Adds defensive headers to every answer and the CSP to HTML ones."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    extra.append((b"content-security-policy", PAGE_CSP.encode()))
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)
