"""Dynamic batching: requests queue their decoded items; one worker thread embeds them in budgeted batches.

torch is not called concurrently: every forward pass runs in the single worker thread of
:class:`DynamicBatcher`. Request handlers decode their items first (so bad items are rejected before they
queue), then :meth:`DynamicBatcher.submit` a :class:`Job` and await its future.

How a batch is formed: the oldest queued job fixes the batch's *key* (the prompt: ``(task, side)``; items of
one forward pass share it); then items are taken in arrival order from the jobs with that key, a job's items
possibly spreading over several batches, while all of these hold:

* items ≤ ``max_batch_items``;
* padded tokens (longest sequence × items) ≤ ``max_batch_tokens``;
* decoded pixels (frames × H × W) ≤ ``max_batch_pixels``.

A batch always takes at least one item, so an item above a budget alone still runs. When fewer than
``max_batch_items`` items are queued the worker waits up to ``batch_wait_s`` for more before it runs, but
only while ``incoming()`` (requests admitted by the server that have not submitted yet: reading their body,
decoding) is positive, so a lone request never waits.

Bounded: :meth:`submit` raises :class:`QueueFull` when the queued items would pass ``max_queue_items`` and
:class:`Draining` once :meth:`close` has begun; the caller answers 429 / 503 with ``Retry-After``.
Jobs whose future is cancelled (the request timed out) or whose deadline passed are dropped from the queue.
:meth:`close` stops admissions, lets the worker finish every queued job (drain), then joins it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = [
    "BatchObserver",
    "Draining",
    "DynamicBatcher",
    "Job",
    "QueueFull",
    "WorkItem",
]

log = logging.getLogger("omnivec.serve")

#: ``encode(items, key) -> [n, D] float32``; runs in the worker thread only.
EncodeFn = Callable[[Sequence[Any], tuple[str, str]], np.ndarray]


class QueueFull(Exception):
    """The queue cannot take the job's items now; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Draining(Exception):
    """The batcher is shutting down (or its worker died) and takes no new jobs."""


class JobExpired(TimeoutError):
    """The job's deadline passed before all its items were embedded."""


class BatchObserver(Protocol):
    """Receives one call per forward pass (for metrics)."""

    def on_batch(self, items: int, tokens: int, pixels: int, seconds: float) -> None: ...


@dataclass
class WorkItem:
    """One decoded item with its costs: ``tokens`` its sequence length, ``pixels`` its decoded frame pixels."""

    payload: Any
    tokens: int
    pixels: int = 0


@dataclass
class Job:
    """The items of one request. ``future`` receives the ``[n, D]`` embeddings in item order."""

    key: tuple[str, str]
    items: list[WorkItem]
    deadline: float
    future: concurrent.futures.Future[np.ndarray] = field(default_factory=concurrent.futures.Future)
    next: int = 0  # first item not yet taken into a batch
    done: int = 0  # items embedded
    result: np.ndarray | None = None

    @property
    def remaining(self) -> int:
        return len(self.items) - self.next

    def fail(self, exc: BaseException) -> None:
        """Finish the job with ``exc`` unless it is already finished (or cancelled)."""
        try:
            if not self.future.done():
                self.future.set_exception(exc)
        except concurrent.futures.InvalidStateError:  # cancelled in between
            pass


class DynamicBatcher:
    """A bounded queue of jobs and the one thread that embeds them (see the module docstring)."""

    def __init__(
        self,
        encode: EncodeFn,
        *,
        max_queue_items: int = 512,
        max_batch_items: int = 32,
        max_batch_tokens: int = 16_384,
        max_batch_pixels: int = 64 * 224 * 224,
        batch_wait_s: float = 0.002,
        observer: BatchObserver | None = None,
        incoming: Callable[[], int] | None = None,
    ) -> None:
        self._encode = encode
        self.max_queue_items = max_queue_items
        self.max_batch_items = max_batch_items
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_pixels = max_batch_pixels
        self.batch_wait_s = batch_wait_s
        self._observer = observer
        self._incoming = incoming
        self._queue: collections.deque[Job] = collections.deque()
        self._queued_items = 0
        self._running_items = 0
        self._cond = threading.Condition()
        self._accepting = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self._rate = 0.0  # items/s, exponential moving average over batches

    # ------------------------------------------------------------- state
    @property
    def queued_items(self) -> int:
        """Items waiting for a forward pass."""
        return self._queued_items

    @property
    def running_items(self) -> int:
        """Items in the forward pass now running."""
        return self._running_items

    @property
    def accepting(self) -> bool:
        """True while started, not closing, and the worker thread is alive."""
        return self._accepting and self._thread is not None and self._thread.is_alive()

    def retry_after(self) -> int:
        """Seconds a rejected client should wait: the time to embed what is queued, 1 to 60."""
        rate = self._rate or 1.0
        return int(min(60, max(1, math.ceil((self._queued_items + self._running_items) / rate))))

    # --------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        with self._cond:
            if self._thread is not None:
                return
            self._accepting = True
            self._thread = threading.Thread(target=self._run, name="omnivec-batcher", daemon=True)
            self._thread.start()

    def close(self, *, drain: bool = True, timeout: float | None = 30.0) -> None:
        """Stop admissions; with ``drain`` embed everything queued first, else fail it with :class:`Draining`.

        Waits up to ``timeout`` seconds for the worker; jobs still queued after that fail with
        :class:`Draining`.
        """
        with self._cond:
            self._accepting = False
            self._closing = True
            if not drain:
                self._fail_all(Draining("the server is shutting down"))
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cond:
            self._fail_all(Draining("the server shut down before this request was embedded"))

    def _fail_all(self, exc: BaseException) -> None:
        while self._queue:
            self._queue.popleft().fail(exc)
        self._queued_items = 0

    # -------------------------------------------------------------- submit
    def submit(self, key: tuple[str, str], items: list[WorkItem], timeout: float) -> Job:
        """Queue ``items`` (all with prompt ``key``); raises :class:`QueueFull` or :class:`Draining`."""
        if not items:
            raise ValueError("a job needs at least one item")
        job = Job(key=key, items=items, deadline=time.monotonic() + timeout)
        with self._cond:
            if not self.accepting:
                raise Draining("the server is shutting down" if self._closing else "the model worker is down")
            if self._queued_items + len(items) > self.max_queue_items:
                raise QueueFull(
                    f"the queue is full ({self._queued_items} of {self.max_queue_items} items waiting); "
                    "retry later",
                    self.retry_after(),
                )
            self._queue.append(job)
            self._queued_items += len(items)
            self._cond.notify_all()
        return job

    # -------------------------------------------------------------- worker
    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
                if batch is None:
                    return
                self._running_items = len(batch)
            try:
                self._process(batch)
            except BaseException as exc:  # never let the worker die silently
                log.exception("batch failed")
                for job in {id(j): j for j, _ in batch}.values():
                    job.fail(exc)
            finally:
                with self._cond:
                    self._running_items = 0

    def _next_batch(self) -> list[tuple[Job, int]] | None:
        """Under the lock: wait for work, then take one batch; ``None`` when closed and drained."""
        while True:
            self._drop_dead(time.monotonic())
            if self._queue:
                break
            if self._closing:
                return None
            self._cond.wait()
        if self.batch_wait_s > 0 and not self._closing:
            until = time.monotonic() + self.batch_wait_s
            while self._queued_items < self.max_batch_items and not self._closing:
                if self._incoming is not None and self._incoming() <= 0:
                    break  # nobody else is on the way: waiting would only add latency
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            self._drop_dead(time.monotonic())
            if not self._queue:
                return self._next_batch()
        return self._take()

    def _drop_dead(self, now: float) -> None:
        """Remove cancelled and expired jobs from the queue."""
        if not any(j.future.done() or j.deadline <= now for j in self._queue):
            return
        alive: collections.deque[Job] = collections.deque()
        for job in self._queue:
            if job.future.done():
                self._queued_items -= job.remaining
            elif job.deadline <= now:
                self._queued_items -= job.remaining
                job.fail(JobExpired("the request timed out in the queue"))
            else:
                alive.append(job)
        self._queue = alive

    def _take(self) -> list[tuple[Job, int]]:
        key = self._queue[0].key
        batch: list[tuple[Job, int]] = []
        longest = pixels = 0
        for job in self._queue:
            if job.key != key:
                continue
            while job.next < len(job.items):
                item = job.items[job.next]
                n = len(batch) + 1
                fits = (
                    n <= self.max_batch_items
                    and max(longest, item.tokens) * n <= self.max_batch_tokens
                    and pixels + item.pixels <= self.max_batch_pixels
                )
                if batch and not fits:
                    break
                batch.append((job, job.next))
                longest, pixels = max(longest, item.tokens), pixels + item.pixels
                job.next += 1
            if job.next < len(job.items):
                break  # the batch is full: keep arrival order, take nothing from later jobs
        self._queued_items -= len(batch)
        self._queue = collections.deque(j for j in self._queue if j.remaining)
        return batch

    def _process(self, batch: list[tuple[Job, int]]) -> None:
        key = batch[0][0].key
        start = time.perf_counter()
        emb = np.asarray(self._encode([job.items[i].payload for job, i in batch], key), dtype=np.float32)
        seconds = time.perf_counter() - start
        if emb.shape[0] != len(batch):
            raise RuntimeError(f"encode returned {emb.shape[0]} rows for {len(batch)} items")
        rate = len(batch) / max(seconds, 1e-6)
        self._rate = rate if not self._rate else 0.8 * self._rate + 0.2 * rate
        if self._observer is not None:
            tokens = max(job.items[i].tokens for job, i in batch) * len(batch)
            pixels = sum(job.items[i].pixels for job, i in batch)
            self._observer.on_batch(len(batch), tokens, pixels, seconds)
        for row, (job, i) in enumerate(batch):
            if job.result is None:
                job.result = np.empty((len(job.items), emb.shape[1]), dtype=np.float32)
            job.result[i] = emb[row]
            job.done += 1
            if job.done == len(job.items):
                try:
                    if not job.future.done():
                        job.future.set_result(job.result)
                except concurrent.futures.InvalidStateError:
                    pass
