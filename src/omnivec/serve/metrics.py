"""Prometheus metrics of one app (its own registry, so several apps can live in one process).

================================================  ==========================================================
``omnivec_requests_total{route,method,status}``   answers by route template and status code
``omnivec_request_duration_seconds{route}``       latency histogram, whole request
``omnivec_rejected_total{reason}``                 queue_full, too_many_pending, draining, timeout
``omnivec_queue_items``                            items waiting for the model (gauge)
``omnivec_pending_requests``                       requests admitted and not yet answered (gauge)
``omnivec_batch_items``                            items per forward pass (histogram)
``omnivec_batch_tokens``                           padded tokens per forward pass (histogram)
``omnivec_batch_seconds``                          forward-pass time (histogram)
``omnivec_embedded_items_total``                   items embedded
================================================  ==========================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "MetricsMiddleware"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_TOKEN_BUCKETS = (64, 256, 1024, 4096, 16_384, 65_536)


class Metrics:
    """The collectors of one app; :meth:`render` gives the text exposition format."""

    def __init__(self, queue_items: Callable[[], float], pending_requests: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("omnivec_requests", "HTTP answers", ["route", "method", "status"], registry=r)
        self.latency = Histogram(
            "omnivec_request_duration_seconds", "request latency", ["route"], buckets=_LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.rejected = Counter("omnivec_rejected", "requests refused or abandoned", ["reason"], registry=r)
        self.queue_items = Gauge("omnivec_queue_items", "items waiting for the model", registry=r)
        self.queue_items.set_function(queue_items)
        self.pending = Gauge("omnivec_pending_requests", "requests admitted, not answered", registry=r)
        self.pending.set_function(pending_requests)
        self.batch_items = Histogram(
            "omnivec_batch_items", "items per forward pass", buckets=_SIZE_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            "omnivec_batch_tokens", "padded tokens per forward pass", buckets=_TOKEN_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "omnivec_batch_seconds", "forward-pass time", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.embedded = Counter("omnivec_embedded_items", "items embedded", registry=r)

    def on_batch(self, items: int, tokens: int, pixels: int, seconds: float) -> None:
        """:class:`~omnivec.serve.batching.BatchObserver` hook."""
        self.batch_items.observe(items)
        self.batch_tokens.observe(tokens)
        self.batch_seconds.observe(seconds)
        self.embedded.inc(items)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP answer by route template (never the raw path: bounded label values)."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, route_label: Callable[[Scope], str | None] | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.route_label = route_label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # answers given before routing (401, 413) have no route in the scope: match it here
            label = getattr(scope.get("route"), "path", None)
            if label is None and self.route_label is not None:
                label = self.route_label(scope)
            label = label or "unmatched"
            self.metrics.requests.labels(label, scope.get("method", ""), str(status)).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - start)
