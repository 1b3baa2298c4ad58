"""HTTP errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``, never a traceback.

=====  ===========================  =========================================================
 400   ``invalid_request_error``    malformed JSON, bad ``dimensions`` / ``encoding_format`` / ``task``
 401   ``authentication_error``     missing or wrong Bearer key
 404   ``not_found_error``          unknown route, model, item, or no index loaded
 408   ``invalid_request_error``    the body did not arrive within ``request_timeout_s``
 413   ``invalid_request_error``    body over ``max_body_bytes``
 422   ``invalid_request_error``    an item is unusable; ``param`` is ``input[i].field``
 429   ``rate_limit_error``         queue full / too many pending requests (``Retry-After``)
 503   ``service_unavailable``      shutting down or the model worker is down (``Retry-After``)
 504   ``timeout_error``            ``request_timeout_s`` passed
 500   ``server_error``             anything else; the details go to the server log only
=====  ===========================  =========================================================
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnivec.errors import EmptyItemError, ItemError, MediaDecodeError, MediaLimitError, UnknownFieldError

__all__ = ["APIError", "InternalErrorMiddleware", "error_response", "item_errors"]

log = logging.getLogger("omnivec.serve")


class APIError(Exception):
    """An error answer. ``extra`` adds keys to the error object (e.g. ``errors`` for every bad item)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> JSONResponse:
        """The JSON answer of this error."""
        return error_response(
            self.status, self.message, type=self.type, param=self.param, code=self.code,
            headers=self.headers, extra=self.extra,
        )  # fmt: skip


def error_response(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """A JSON error answer in OpenAI's shape."""
    body = {"message": message, "type": type, "param": param, "code": code, **(extra or {})}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


_CODES: tuple[tuple[type[ItemError], str], ...] = (
    (UnknownFieldError, "unknown_field"),
    (EmptyItemError, "empty_item"),
    (MediaLimitError, "media_limit_exceeded"),
    (MediaDecodeError, "media_decode_error"),
)


def item_code(err: ItemError) -> str:
    """A stable machine-readable code for an item error."""
    return next((code for cls, code in _CODES if isinstance(err, cls)), "invalid_item")


def item_param(err: ItemError, prefix: str, indexed: bool) -> str:
    """``input[3].image``: where the error sits in the request body."""
    where = f"{prefix}[{err.index}]" if indexed and err.index is not None else prefix
    return f"{where}.{err.field}" if err.field else where


def item_errors(errors: Sequence[ItemError], *, prefix: str = "input", indexed: bool = True) -> APIError:
    """A 422 naming the first bad item and field; ``errors`` lists every bad item."""
    first = errors[0]
    more = f" (and {len(errors) - 1} more invalid item(s), listed in 'errors')" if len(errors) > 1 else ""
    details = [
        {"index": e.index, "field": e.field, "message": e.reason, "code": item_code(e)} for e in errors
    ]
    if indexed:
        message = str(first)
    else:
        message = prefix + (f", field {first.field!r}" if first.field else "") + f": {first.reason}"
    return APIError(
        422,
        message + more,
        param=item_param(first, prefix, indexed),
        code=item_code(first),
        extra={"errors": details},
    )


class InternalErrorMiddleware:
    """Turns any unexpected exception into a generic 500 JSON answer; the traceback goes to the log only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                response = error_response(
                    500, "internal server error; the details are in the server log", type="server_error",
                    code="internal_error",
                )  # fmt: skip
                await response(scope, receive, send)
