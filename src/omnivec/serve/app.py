"""``create_app``: the FastAPI app of the omnivec server (OpenAI-compatible embeddings, search, page).

    from omnivec.serve import ServeSettings, create_app
    app = create_app(omnivec.load("runs/model"), index=open_index("runs/index"),
                     settings=ServeSettings(model_name="my-model", api_keys=("secret",)))
    uvicorn.run(app, host="127.0.0.1", port=8080)

Layers, outermost first: security headers → metrics → API keys → body size → internal-error guard →
FastAPI routing (``routes.py``). The lifespan starts the batcher's worker thread and, on shutdown, drains it:
queued work is embedded and answered before the app stops.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

import omnivec
from omnivec.errors import ConfigError
from omnivec.serve.batching import DynamicBatcher
from omnivec.serve.encoder import Embedder
from omnivec.serve.errors import APIError, InternalErrorMiddleware, error_response
from omnivec.serve.metrics import Metrics, MetricsMiddleware
from omnivec.serve.routes import STATIC_DIR, router
from omnivec.serve.search import has_lexical, items_base_dir
from omnivec.serve.security import APIKeyMiddleware, BodySizeLimitMiddleware, SecurityHeadersMiddleware
from omnivec.serve.settings import ServeSettings
from omnivec.serve.state import ServerState
from omnivec.serve.thumbnails import Thumbnails

__all__ = ["create_app"]

log = logging.getLogger("omnivec.serve")

_STATUS_TYPES = {401: "authentication_error", 404: "not_found_error", 405: "invalid_request_error"}


def create_app(model: Any, *, index: Any = None, settings: ServeSettings | None = None) -> FastAPI:
    """The server app for ``model`` (an :class:`~omnivec.model.OmniModel`) and an optional ``index``.

    ``index`` is any object with the :class:`~omnivec.serve.search.IndexLike` protocol
    (``omnivec.index.open_index(path)``; its ``lexical`` part enables ``lexical``/``hybrid`` search). Raises
    :class:`ConfigError` when the index is wider than the model, or when ``settings.search_mode`` is not
    ``dense`` and the index has no lexical part.
    """
    settings = settings or ServeSettings()
    embedder = Embedder(model, settings)
    if index is not None and int(index.dim) > embedder.dimension:
        raise ConfigError(f"the index has dim {index.dim}, wider than the model's {embedder.dimension}")
    if index is not None and settings.search_mode != "dense" and not has_lexical(index):
        raise ConfigError(
            f"search_mode {settings.search_mode!r} needs an index with a lexical part and this one has none; "
            "rebuild it with `omnivec index build --lexical` or serve with search_mode 'dense'"
        )
    if index is not None and has_lexical(index):
        getattr(index, "lexical", None)  # load the BM25 part now: a broken one fails here, not on a request
    # the callbacks below read `state` (assigned further down) only once the app runs
    metrics = Metrics(
        queue_items=lambda: float(state.batcher.queued_items),
        pending_requests=lambda: float(state.pending),
    )
    batcher = DynamicBatcher(
        embedder.encode,
        max_queue_items=settings.max_queue_items,
        max_batch_items=settings.max_batch_items,
        max_batch_tokens=settings.max_batch_tokens,
        max_batch_pixels=settings.max_batch_pixels,
        batch_wait_s=settings.batch_wait_ms / 1000.0,
        observer=metrics,
        incoming=lambda: state.incoming,
    )
    state = ServerState(
        settings=settings,
        embedder=embedder,
        batcher=batcher,
        metrics=metrics,
        index=index,
        thumbnails=Thumbnails(
            index,
            settings.media_root,
            settings.media_limits,
            settings.thumbnail_size,
            base_dir=items_base_dir(index),
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        log.info("draining: %d queued item(s)", batcher.queued_items)
        await run_in_threadpool(lambda: batcher.close(drain=True, timeout=settings.drain_timeout_s))

    app = FastAPI(
        title="omnivec",
        version=omnivec.__version__,
        summary="Omni-modal embeddings: OpenAI-compatible /v1/embeddings, /v1/search and a search page.",
        docs_url=None,  # the Swagger page loads scripts from a CDN; /openapi.json stays
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.omnivec = state
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_error_handlers(app)

    def route_label(scope: Scope) -> str | None:
        """The route template of a request answered before routing (401, 413)."""
        for route in router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return getattr(route, "path", None)
        return "/static" if str(scope.get("path", "")).startswith("/static/") else None

    # add_middleware: the last added is the outermost
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(APIKeyMiddleware, keys=settings.api_keys)
    app.add_middleware(MetricsMiddleware, metrics=metrics, route_label=route_label)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if status == 404:
            message = f"no route {request.url.path!r}"
        return error_response(
            status, message, type=_STATUS_TYPES.get(status, "invalid_request_error"),
            code="not_found" if status == 404 else None, headers=getattr(exc, "headers", None),
        )  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in err.get("loc", ())]
        param = loc[-1] if loc else None
        return error_response(400, f"{param}: {err.get('msg')}", param=param, code="invalid_value")
