"""Embeddings computed once per ``(task, side)`` and shared by every task of an evaluation run.

All i2i tasks of a world rank against the same corpus, seq2item reuses the i2i item embeddings, and the
recommendation metrics use them again: caching by ``(task, side, item_id)`` (or query text) makes the corpus
pass happen once per prompt instead of once per task. Rows that come back all-zero are failed items; the
cache remembers them so the runner can report them. Pairs the embedder renders identically (same
:func:`~omnivec.evaluation.embedders.prompt_key`, e.g. one catalogue instruction for i2i, q2i and seq targets, or
a baseline without prompts) share one store: the corpus is embedded once for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from omnivec.evaluation.embedders import Embedder, prompt_key

__all__ = ["EmbeddingCache"]


@dataclass
class _Store:
    """Rows of one ``(kind, task/side)``: key → row, appended in blocks, concatenated on demand."""

    row: dict[str, int] = field(default_factory=dict)
    blocks: list[np.ndarray] = field(default_factory=list)
    matrix: np.ndarray | None = None
    failed: set[str] = field(default_factory=set)  # keys whose row came back all-zero

    def all(self) -> np.ndarray:
        if self.matrix is None or self.matrix.shape[0] != len(self.row):
            self.matrix = np.concatenate(self.blocks)
            self.blocks = [self.matrix]
        return self.matrix


class EmbeddingCache:
    """Lazily embeds items and texts with ``embedder``, at most once per ``(task, side)``.

    Args:
        embedder: the model under evaluation.
        item_loader: ``item_id -> item dict`` (e.g. :meth:`EvalData.item`).
        progress: show a tqdm bar for each pass of new embeddings.
        call_size: items handed to ``embedder.embed`` per call (also the progress granularity).
    """

    def __init__(
        self,
        embedder: Embedder,
        item_loader: Callable[[str], dict[str, Any]],
        *,
        progress: bool = True,
        call_size: int = 256,
    ) -> None:
        self.embedder = embedder
        self.item_loader = item_loader
        self.progress = progress
        self.call_size = call_size
        self._stores: dict[tuple[str, str], _Store] = {}  # (kind, prompt key) -> rows
        self._keys: dict[str, str] = {}  # "task/side" -> prompt key
        self._width: int | None = None
        self.failed: dict[str, set[str]] = {}  # "task/side" -> "item:<id>" | "text:<text>" that failed
        self.computed: dict[str, int] = {}  # "task/side" -> rows embedded

    # ------------------------------------------------------------------ public
    def items(self, ids: Sequence[str], task: str, side: str) -> np.ndarray:
        """``[len(ids), D]`` embeddings of catalogue items."""
        return self._get("item", list(ids), task, side)

    def texts(self, texts: Sequence[str], task: str, side: str) -> np.ndarray:
        """``[len(texts), D]`` embeddings of literal texts (queries, label names)."""
        return self._get("text", list(texts), task, side)

    def is_failed(self, kind: str, key: str, task: str, side: str) -> bool:
        """Whether that item (``kind="item"``) or text came back as a zero row."""
        return key in self._store(kind, task, side).failed

    @property
    def n_failed(self) -> int:
        return sum(len(v) for v in self.failed.values())

    # ----------------------------------------------------------------- private
    def _store(self, kind: str, task: str, side: str) -> _Store:
        ts = f"{task}/{side}"
        if ts not in self._keys:
            self._keys[ts] = prompt_key(self.embedder, task, side)
        return self._stores.setdefault((kind, self._keys[ts]), _Store())

    def _get(self, kind: str, keys: list[str], task: str, side: str) -> np.ndarray:
        store = self._store(kind, task, side)
        missing = list(dict.fromkeys(k for k in keys if k not in store.row))
        if missing:
            self._embed(store, kind, missing, task, side)
        if not keys:
            return np.zeros((0, self._width or 0), dtype=np.float32)
        rows = np.fromiter((store.row[k] for k in keys), dtype=np.int64, count=len(keys))
        return store.all()[rows]

    def _embed(self, store: _Store, kind: str, keys: list[str], task: str, side: str) -> None:
        ts = f"{task}/{side}"
        bar = tqdm(
            total=len(keys), desc=f"embed {ts} ({kind}s)", unit=kind, disable=not self.progress, leave=False
        )
        for s in range(0, len(keys), self.call_size):
            chunk = keys[s : s + self.call_size]
            objs = [self.item_loader(k) for k in chunk] if kind == "item" else [{"text": t} for t in chunk]
            emb = np.asarray(self.embedder.embed(objs, task=task, side=side), dtype=np.float32)
            if emb.ndim != 2 or emb.shape[0] != len(chunk):
                raise ValueError(
                    f"embedder {self.embedder.name!r} returned shape {emb.shape} for {len(chunk)} items "
                    f"({ts}); expected one row per item"
                )
            if self._width is not None and emb.shape[1] != self._width:
                raise ValueError(
                    f"embedder {self.embedder.name!r} returned width {emb.shape[1]} for {ts}, "
                    f"but {self._width} before"
                )
            self._width = emb.shape[1]
            zero = ~np.any(emb != 0, axis=1)
            if zero.any():
                bad = [chunk[i] for i in np.flatnonzero(zero)]
                store.failed.update(bad)
                self.failed.setdefault(ts, set()).update(f"{kind}:{k}" for k in bad)
            start = len(store.row)
            store.blocks.append(emb)
            for i, k in enumerate(chunk):
                store.row[k] = start + i
            bar.update(len(chunk))
        bar.close()
        self.computed[ts] = self.computed.get(ts, 0) + len(keys)
