"""The HTTP routes: OpenAI-compatible embeddings and models, search, thumbnails, health, metrics, the page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, Response

from omnivec.serve.errors import APIError
from omnivec.serve.metrics import CONTENT_TYPE_LATEST
from omnivec.serve.schemas import EmbeddingRequest, SearchRequest, embedding_payload
from omnivec.serve.search import resolve_search, run_search, search_modes, search_task
from omnivec.serve.state import ServerState, read_json

__all__ = ["STATIC_DIR", "router"]

STATIC_DIR = Path(__file__).parent / "static"
router = APIRouter()
_CREATED = int(time.time())


def _state(request: Request) -> ServerState:
    return request.app.state.omnivec


def _body_schema(model: type) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


# ------------------------------------------------------------------ embeddings
@router.post("/v1/embeddings", openapi_extra=_body_schema(EmbeddingRequest))
async def create_embeddings(request: Request) -> JSONResponse:
    """OpenAI's embeddings API, with omni items, ``task`` and ``side``."""
    state = _state(request)
    with state.admit():
        req = await read_json(request, EmbeddingRequest, state.settings.request_timeout_s)
        state.check_model(req.model)
        dims = state.embedder.check_dimensions(req.dimensions)
        key = state.embedder.resolve(req.task, req.side)
        raw = [req.input] if isinstance(req.input, str) else req.input
        if not raw:
            raise APIError(400, "input must not be empty", param="input", code="invalid_value")
        if len(raw) > state.settings.max_request_items:
            raise APIError(
                400, f"input has {len(raw)} items, more than max_request_items={state.settings.max_request_items}",
                param="input", code="too_many_items",
            )  # fmt: skip
        embeddings, tokens = await state.embed(raw, key, prefix="input", indexed=True)
        embeddings = state.embedder.truncate(embeddings, dims)
        payload = embedding_payload(
            embeddings, model=state.settings.model_name, encoding_format=req.encoding_format or "float",
            prompt_tokens=tokens,
        )  # fmt: skip
        return JSONResponse(payload)


def _model_card(state: ServerState) -> dict[str, Any]:
    emb = state.embedder
    return {
        "id": state.settings.model_name,
        "object": "model",
        "created": _CREATED,
        "owned_by": "omnivec",
        "dimensions": emb.dimension,
        "matryoshka_dimensions": emb.matryoshka_dims,
        "modalities": emb.modalities,
        "tasks": emb.tasks,
        "default_task": emb.default_task,
    }


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    """OpenAI's model list: the one model served."""
    return {"object": "list", "data": [_model_card(_state(request))]}


@router.get("/v1/models/{model_id}")
async def retrieve_model(model_id: str, request: Request) -> dict[str, Any]:
    state = _state(request)
    state.check_model(model_id)
    return _model_card(state)


# ---------------------------------------------------------------------- search
@router.post("/v1/search", openapi_extra=_body_schema(SearchRequest))
async def search(request: Request) -> JSONResponse:
    """Return the top ``k`` items of the index for one query item: dense (embedded query), lexical (BM25 over
    the query text) or hybrid (both, fused); the answer's ``mode`` says which ran."""
    state = _state(request)
    index = state.index
    if index is None:
        raise APIError(
            404, "no index is loaded; start the server with --index", type="not_found_error",
            code="index_not_loaded",
        )  # fmt: skip
    with state.admit():
        req = await read_json(request, SearchRequest, state.settings.request_timeout_s)
        state.check_model(req.model)
        k = req.k if req.k is not None else min(10, state.settings.max_search_k)
        if k > state.settings.max_search_k:
            raise APIError(
                400, f"k must be at most {state.settings.max_search_k}", param="k", code="invalid_value"
            )
        plan = resolve_search(req, state.settings, index, k)
        emb = state.embedder
        task = search_task(req.task, state.settings.search_task, index, emb.tasks, emb.default_task)
        key = emb.resolve(task, req.side or "query")
        embedding, tokens = None, 0
        if plan.mode != "lexical":  # lexical search matches the text only: nothing to embed
            embedding, tokens = await state.embed([req.query], key, prefix="query", indexed=False)
        results = await run_in_threadpool(run_search, index, state.thumbnails, plan, embedding)
        return JSONResponse({
            "object": "search.result",
            "model": state.settings.model_name,
            "task": key[0],
            "side": key[1],
            **plan.describe(),
            "data": results,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })  # fmt: skip


@router.get("/v1/thumbnail")
async def thumbnail(request: Request, id: str = Query(..., max_length=1024)) -> Response:
    """The JPEG cover of an indexed item (only files the index lists, inside the media root)."""
    state = _state(request)
    data = await run_in_threadpool(state.thumbnails.render, id) if state.thumbnails.enabled else None
    if data is None:
        raise APIError(404, "this item has no servable thumbnail", type="not_found_error", param="id",
                       code="no_thumbnail")  # fmt: skip
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


# ----------------------------------------------------------- health / metrics
@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Liveness and what the page needs to know; 503 while draining or when the model worker is down."""
    state = _state(request)
    state.batcher.start()
    ok = state.batcher.accepting
    index = state.index
    body = {
        "status": "ok" if ok else "unavailable",
        "model": state.settings.model_name,
        "dimensions": state.embedder.dimension,
        "index": None if index is None else {"size": int(index.size), "dim": int(index.dim)},
        "search_modes": search_modes(index),
        "search_mode": None if index is None else state.settings.search_mode,
        "auth": bool(state.settings.api_keys),
        "thumbnails": state.thumbnails.enabled,
        "max_body_bytes": state.settings.max_body_bytes,
        "queue_items": state.batcher.queued_items,
        "pending_requests": state.pending,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The search page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")
