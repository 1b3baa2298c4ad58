"""Overload, timeouts and shutdown on a live server (127.0.0.1): bounded bursts get 429/503 with Retry-After,
nothing hangs, every accepted request gets its own answer, and shutdown drains in-flight work.

Every test here is bounded: a fixed number of requests, client timeouts, and a deadline for the whole burst.
"""

from __future__ import annotations

import re
import threading
import time

import httpx
import numpy as np
import pytest

from omnivec.serve import ServeSettings, create_app

MODEL = "omnivec-tiny"


def _burst(url: str, bodies: list[dict], deadline_s: float = 30.0) -> list[httpx.Response | Exception]:
    """POST every body at once from its own thread; returns responses (or the client's exception)."""
    results: list[httpx.Response | Exception] = [RuntimeError("not run")] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def run(i: int) -> None:
        with httpx.Client(timeout=20) as client:
            barrier.wait(10)
            try:
                results[i] = client.post(f"{url}/v1/embeddings", json=bodies[i])
            except Exception as exc:
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(bodies))]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline_s - (time.monotonic() - start)))
    assert not any(t.is_alive() for t in threads), "a request hung"
    return results


def test_a_burst_larger_than_the_queue_is_bounded(slow_model, live_server):
    model = slow_model(0.25)
    n = 30
    bodies = [{"input": [f"request number {i}"], "model": MODEL} for i in range(n)]
    refs = model.encode([b["input"][0] for b in bodies])  # before the server owns the model
    settings = ServeSettings(
        model_name=MODEL, max_queue_items=4, max_request_items=4, max_pending_requests=8, max_batch_items=2,
        batch_wait_ms=0, request_timeout_s=20,
    )  # fmt: skip
    server = live_server(create_app(model, settings=settings))
    started = time.monotonic()
    results = _burst(server.url, bodies)
    elapsed = time.monotonic() - started
    assert all(isinstance(r, httpx.Response) for r in results), [
        r for r in results if not isinstance(r, httpx.Response)
    ]
    statuses = [r.status_code for r in results]  # type: ignore[union-attr]
    assert set(statuses) <= {200, 429, 503}, statuses
    accepted = [i for i, s in enumerate(statuses) if s == 200]
    rejected = [i for i, s in enumerate(statuses) if s != 200]
    assert accepted and rejected, statuses
    for i in rejected:
        r = results[i]
        assert re.fullmatch(r"\d+", r.headers["retry-after"]) and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] in {"queue_full", "too_many_pending"}
    for i in accepted:  # each accepted request got its own embedding back
        got = np.asarray(results[i].json()["data"][0]["embedding"])
        np.testing.assert_allclose(got, refs[i], atol=1e-5)
    assert elapsed < 20
    # the server recovers, and the rejections are visible in /metrics
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/v1/embeddings", json=bodies[0]).status_code == 200
        assert client.get("/health").json()["queue_items"] == 0
        text = client.get("/metrics").text
    assert re.search(r'omnivec_rejected_total\{reason="(queue_full|too_many_pending)"\} [1-9]', text)
    assert 'omnivec_requests_total{method="POST",route="/v1/embeddings",status="429"}' in text


def test_the_openai_client_sees_a_rate_limit_error(slow_model, live_server):
    openai = pytest.importorskip("openai")
    model = slow_model(1.0)
    settings = ServeSettings(model_name=MODEL, max_pending_requests=1, request_timeout_s=10)
    server = live_server(create_app(model, settings=settings))
    holder = threading.Thread(
        target=lambda: httpx.post(f"{server.url}/v1/embeddings", json={"input": "hold"}, timeout=10),
        daemon=True,
    )
    holder.start()
    deadline = time.monotonic() + 5
    while httpx.get(f"{server.url}/health").json()["pending_requests"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0, timeout=10)
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model=MODEL, input="x")
    holder.join(10)


def test_a_slow_request_times_out_with_504(slow_model, live_server):
    server = live_server(
        create_app(slow_model(2.0), settings=ServeSettings(model_name=MODEL, request_timeout_s=0.3))
    )
    start = time.monotonic()
    r = httpx.post(f"{server.url}/v1/embeddings", json={"input": "x"}, timeout=10)
    assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
    assert time.monotonic() - start < 1.5  # answered at the timeout, not when the 2 s forward pass ends
    health = httpx.get(f"{server.url}/health", timeout=5)
    assert health.status_code == 200
    assert 'omnivec_rejected_total{reason="timeout"} 1.0' in httpx.get(f"{server.url}/metrics").text


def test_shutdown_drains_in_flight_requests(slow_model, live_server):
    model = slow_model(0.4)
    settings = ServeSettings(model_name=MODEL, max_batch_items=1, batch_wait_ms=0, request_timeout_s=20)
    server = live_server(create_app(model, settings=settings))
    state = server.app.state.omnivec
    results: list[int] = []

    def call(i: int) -> None:
        r = httpx.post(f"{server.url}/v1/embeddings", json={"input": f"item {i}"}, timeout=20)
        results.append(r.status_code)

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    # every request has reached the server, and at least two are still in flight (one embedding, others queued)
    while not (state.pending + len(results) == 4 and state.pending >= 2):
        assert time.monotonic() < deadline, "requests never arrived"
        time.sleep(0.005)
    server.stop(timeout=20)  # graceful: in-flight requests finish, then the batcher drains
    for t in threads:
        t.join(5)
    assert sorted(results) == [200, 200, 200, 200]
    assert not state.batcher.accepting
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{server.url}/v1/embeddings", json={"input": "late"}, timeout=2)


def test_draining_app_answers_503(make_client):
    client = make_client()
    client.app.state.omnivec.batcher.close(drain=True, timeout=5)
    r = client.post("/v1/embeddings", json={"input": "x"})
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert client.get("/health").status_code == 503
