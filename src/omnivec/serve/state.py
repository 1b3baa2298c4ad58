"""The per-app server state and the one path every embedding takes: admit → decode → queue → await.

:meth:`ServerState.admit` bounds the requests in flight (429 beyond ``max_pending_requests``, 503 while
draining) before their body is even read. :meth:`ServerState.embed` decodes items in a worker thread of the
event loop's pool (bad items → 422 naming index and field, before anything is queued), submits them to the
:class:`~omnivec.serve.batching.DynamicBatcher` (429 when its queue is full) and awaits the embeddings under
the request timeout (504; the job is cancelled so its queued items are dropped).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from omnivec.serve.batching import Draining, DynamicBatcher, QueueFull
from omnivec.serve.encoder import Embedder, ItemErrors
from omnivec.serve.errors import APIError, item_errors
from omnivec.serve.metrics import Metrics
from omnivec.serve.settings import ServeSettings
from omnivec.serve.thumbnails import Thumbnails

__all__ = ["ServerState", "read_json"]

M = TypeVar("M", bound=BaseModel)
_THREAD_PARSE_BYTES = 256 * 1024


@dataclass
class ServerState:
    """Everything a route needs; one per app (``app.state.omnivec``)."""

    settings: ServeSettings
    embedder: Embedder
    batcher: DynamicBatcher
    metrics: Metrics
    index: Any
    thumbnails: Thumbnails
    pending: int = 0  # requests admitted and not answered
    submitted: int = 0  # of those, the ones whose items are in the batcher (queued or embedding)

    @property
    def incoming(self) -> int:
        """Requests admitted that have not reached the batcher yet (reading, parsing, decoding): the batcher
        waits up to ``batch_wait_ms`` for them before it runs a partial batch."""
        return self.pending - self.submitted

    # ---------------------------------------------------------- admission
    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one of ``max_pending_requests`` slots for the duration of a request."""
        self.batcher.start()  # no-op once started (lifespan starts it; plain TestClient use too)
        if not self.batcher.accepting:
            self.metrics.rejected.labels("draining").inc()
            raise APIError(
                503, "the server is shutting down; retry on another instance", type="service_unavailable",
                code="draining", headers={"Retry-After": "5"},
            )  # fmt: skip
        if self.pending >= self.settings.max_pending_requests:
            self.metrics.rejected.labels("too_many_pending").inc()
            raise APIError(
                429, f"too many requests in flight ({self.pending}); retry later", type="rate_limit_error",
                code="too_many_pending", headers={"Retry-After": str(self.batcher.retry_after())},
            )  # fmt: skip
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1

    def check_model(self, model: str | None) -> None:
        """404 when the request names another model than the one served."""
        if model is not None and model != self.settings.model_name:
            raise APIError(
                404, f"model {model!r} is not served here; this server serves {self.settings.model_name!r}",
                type="not_found_error", param="model", code="model_not_found",
            )  # fmt: skip

    # -------------------------------------------------------------- embed
    async def embed(
        self, raw: Sequence[object], key: tuple[str, str], *, prefix: str, indexed: bool
    ) -> tuple[np.ndarray, int]:
        """Full-width embeddings of ``raw`` items with prompt ``key``, and their text token count."""
        timeout = self.settings.request_timeout_s
        deadline = time.monotonic() + timeout
        job = None
        try:
            async with asyncio.timeout(timeout):
                prepared = await run_in_threadpool(self.embedder.prepare, raw, key)
                job = self.batcher.submit(key, prepared.items, timeout=max(deadline - time.monotonic(), 0.0))
                self.submitted += 1
                try:
                    embeddings = await asyncio.wrap_future(job.future)
                finally:
                    self.submitted -= 1
        except ItemErrors as exc:
            raise item_errors(exc.errors, prefix=prefix, indexed=indexed) from None
        except QueueFull as exc:
            self.metrics.rejected.labels("queue_full").inc()
            raise APIError(
                429, str(exc), type="rate_limit_error", code="queue_full",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None  # fmt: skip
        except Draining as exc:
            self.metrics.rejected.labels("draining").inc()
            raise APIError(
                503, str(exc), type="service_unavailable", code="draining", headers={"Retry-After": "5"}
            ) from None
        except TimeoutError:
            if job is not None:
                job.future.cancel()
            self.metrics.rejected.labels("timeout").inc()
            raise APIError(
                504, f"the request did not finish within request_timeout_s={timeout:g}",
                type="timeout_error", code="timeout",
            ) from None  # fmt: skip
        return embeddings, prepared.prompt_tokens


async def read_json(request: Request, schema: type[M], timeout: float) -> M:
    """Read (within ``timeout`` seconds, else 408) and validate the JSON body (parsed in a thread when large);
    400 naming the bad parameter."""
    try:
        async with asyncio.timeout(timeout):
            body = await request.body()
    except TimeoutError:
        raise APIError(
            408, f"the request body did not arrive within {timeout:g} s", code="body_timeout"
        ) from None
    try:
        if len(body) > _THREAD_PARSE_BYTES:
            data = await run_in_threadpool(json.loads, body)
        else:
            data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, "the body must be a JSON object", code="invalid_json")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = [str(p) for p in err["loc"]]
        param = loc[0] if loc else None
        if param == "input":
            message = "input must be a string, or a list of strings and omni items"
        elif param == "query":
            message = "query must be a string or an omni item object"
        elif err["type"] == "extra_forbidden":
            message = f"unknown parameter {param!r}"
        else:
            message = f"{'.'.join(loc)}: {err['msg']}"
        raise APIError(400, message, param=param, code="invalid_value") from None
