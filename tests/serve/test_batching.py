"""DynamicBatcher on its own: budgets, prompt keys, bounded queue, cancellation, expiry, failures, drain."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import numpy as np
import pytest

from omnivec.serve.batching import Draining, DynamicBatcher, JobExpired, QueueFull, WorkItem

Q = ("i2i", "query")
T = ("q2i", "target")


class Recorder:
    """An encode function that records each batch (payloads + key) and can be held at a gate."""

    def __init__(self, fail_on: object = None) -> None:
        self.batches: list[tuple[tuple[str, str], list[object]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail_on = fail_on

    def __call__(self, payloads, key):
        self.entered.set()
        assert self.gate.wait(10)
        self.batches.append((key, list(payloads)))
        if self.fail_on in payloads:
            raise RuntimeError("boom")
        return np.array([[float(p), 1.0] for p in payloads], dtype=np.float32)


def _items(values, tokens=10, pixels=0):
    return [WorkItem(v, tokens=tokens, pixels=pixels) for v in values]


@pytest.fixture
def make_batcher():
    made = []

    def make(encode, **kw):
        kw.setdefault("batch_wait_s", 0.0)
        b = DynamicBatcher(encode, **kw)
        b.start()
        made.append(b)
        return b

    yield make
    for b in made:
        b.close(drain=False, timeout=5)


def _hold(rec: Recorder, batcher: DynamicBatcher) -> concurrent.futures.Future:
    """Occupy the worker with one blocked batch so the next submissions queue up together."""
    rec.gate.clear()
    job = batcher.submit(Q, _items([-1]), timeout=10)
    assert rec.entered.wait(5)
    return job.future


def _result(job, timeout=10):
    return job.future.result(timeout)


def test_item_budget_and_order(make_batcher):
    rec = Recorder()
    b = make_batcher(rec, max_batch_items=4)
    _hold(rec, b)
    jobs = [b.submit(Q, _items([i]), timeout=10) for i in range(10)]
    assert b.queued_items == 10
    rec.gate.set()
    for i, job in enumerate(jobs):
        np.testing.assert_array_equal(_result(job), [[i, 1.0]])
    assert [len(p) for _, p in rec.batches] == [1, 4, 4, 2]
    assert [v for _, p in rec.batches[1:] for v in p] == list(range(10))


def test_a_large_job_spreads_over_batches_and_keeps_its_order(make_batcher):
    rec = Recorder()
    b = make_batcher(rec, max_batch_items=3)
    job = b.submit(Q, _items(range(8)), timeout=10)
    np.testing.assert_array_equal(_result(job)[:, 0], np.arange(8))
    assert [len(p) for _, p in rec.batches] == [3, 3, 2]


def test_padded_token_budget(make_batcher):
    rec = Recorder()
    b = make_batcher(rec, max_batch_items=32, max_batch_tokens=250)
    _hold(rec, b)
    jobs = [
        b.submit(Q, [WorkItem(i, tokens=t)], timeout=10)
        for i, t in enumerate([100, 100, 100, 200, 10, 300, 5])
    ]
    rec.gate.set()
    for job in jobs:
        _result(job)
    # 100+100 → 2x100=200 ok, +100 → 300 > 250; 100 then 200 → 2x200=400 > 250; 200+10 → 400 > 250;
    # 10 alone then 300 → 600 > 250; 300 alone (over budget: runs alone); 5
    assert [p for _, p in rec.batches[1:]] == [[0, 1], [2], [3], [4], [5], [6]]


def test_pixel_budget(make_batcher):
    rec = Recorder()
    b = make_batcher(rec, max_batch_items=32, max_batch_pixels=3000)
    _hold(rec, b)
    jobs = [b.submit(Q, _items([i], pixels=1024), timeout=10) for i in range(5)]
    rec.gate.set()
    for job in jobs:
        _result(job)
    assert [len(p) for _, p in rec.batches[1:]] == [2, 2, 1]


def test_one_prompt_key_per_batch_oldest_first(make_batcher):
    rec = Recorder()
    b = make_batcher(rec, max_batch_items=8)
    _hold(rec, b)
    jobs = [b.submit(Q if i % 2 == 0 else T, _items([i]), timeout=10) for i in range(6)]
    rec.gate.set()
    for job in jobs:
        _result(job)
    assert [(k, p) for k, p in rec.batches[1:]] == [(Q, [0, 2, 4]), (T, [1, 3, 5])]


def test_bounded_queue_raises_queue_full(make_batcher):
    rec = Recorder()
    b = make_batcher(rec, max_queue_items=5)
    _hold(rec, b)
    b.submit(Q, _items(range(3)), timeout=10)
    b.submit(Q, _items(range(2)), timeout=10)
    with pytest.raises(QueueFull) as info:
        b.submit(Q, _items([9]), timeout=10)
    assert 1 <= info.value.retry_after <= 60
    assert b.queued_items == 5  # the refused job left nothing behind
    rec.gate.set()


def test_cancelled_and_expired_jobs_are_dropped(make_batcher):
    rec = Recorder()
    b = make_batcher(rec)
    _hold(rec, b)
    cancelled = b.submit(Q, _items([1]), timeout=10)
    expired = b.submit(Q, _items([2]), timeout=0.05)
    kept = b.submit(Q, _items([3]), timeout=10)
    assert cancelled.future.cancel()
    time.sleep(0.1)
    rec.gate.set()
    np.testing.assert_array_equal(_result(kept), [[3, 1.0]])
    with pytest.raises(JobExpired):
        _result(expired)
    assert [p for _, p in rec.batches[1:]] == [[3]]
    assert b.queued_items == 0


def test_a_failing_batch_fails_its_jobs_and_the_worker_goes_on(make_batcher):
    rec = Recorder(fail_on=13)
    b = make_batcher(rec, max_batch_items=1)
    bad = b.submit(Q, _items([13]), timeout=10)
    with pytest.raises(RuntimeError, match="boom"):
        _result(bad)
    np.testing.assert_array_equal(_result(b.submit(Q, _items([4]), timeout=10)), [[4, 1.0]])


def test_close_drains_queued_work_then_refuses(make_batcher):
    rec = Recorder()
    b = make_batcher(rec, max_batch_items=2)
    held = _hold(rec, b)
    jobs = [b.submit(Q, _items([i]), timeout=10) for i in range(5)]
    closer = threading.Thread(target=b.close, kwargs={"drain": True, "timeout": 10})
    closer.start()
    deadline = time.monotonic() + 5
    while b.accepting:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    with pytest.raises(Draining):
        b.submit(Q, _items([99]), timeout=10)
    rec.gate.set()
    closer.join(10)
    assert not closer.is_alive()
    assert held.result(1) is not None
    for i, job in enumerate(jobs):
        np.testing.assert_array_equal(_result(job, 1), [[i, 1.0]])
    assert not b.accepting


def test_close_without_drain_fails_queued_jobs(make_batcher):
    rec = Recorder()
    b = make_batcher(rec)
    _hold(rec, b)
    job = b.submit(Q, _items([1]), timeout=10)
    threading.Timer(0.1, rec.gate.set).start()
    b.close(drain=False, timeout=10)
    with pytest.raises(Draining):
        _result(job, 1)


def test_batch_wait_gathers_items_that_arrive_soon_after(make_batcher):
    rec = Recorder()
    b = make_batcher(rec, max_batch_items=2, batch_wait_s=5.0)  # the wait ends when the batch is full
    first = b.submit(Q, _items([0]), timeout=10)
    time.sleep(0.02)
    second = b.submit(Q, _items([1]), timeout=10)
    _result(first)
    _result(second)
    assert [p for _, p in rec.batches] == [[0, 1]]


def test_a_lone_request_does_not_wait_when_nothing_else_is_incoming(make_batcher):
    rec = Recorder()
    incoming = [0]
    b = make_batcher(rec, max_batch_items=4, batch_wait_s=5.0, incoming=lambda: incoming[0])
    start = time.monotonic()
    _result(b.submit(Q, _items([0]), timeout=10))
    assert time.monotonic() - start < 1.0
    incoming[0] = 1  # another request is decoding: the batcher waits for it
    first = b.submit(Q, _items([1]), timeout=10)
    time.sleep(0.1)
    incoming[0] = 0
    b.submit(Q, _items([2]), timeout=10)
    _result(first)
    assert [p for _, p in rec.batches] == [[0], [1, 2]]
