"""Planted embedders for the evaluation tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def _unit(key: str, dim: int) -> np.ndarray:
    seed = int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)
    v = np.random.default_rng(seed).standard_normal(dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


class RandomEmbedder:
    """A fixed random unit vector per item id (or text), independent of task and side."""

    name = "random"

    def __init__(self, dim: int = 32, fail: set[str] | None = None) -> None:
        self.dim = dim
        self.fail = fail or set()
        self.calls: list[tuple[str, str, int]] = []

    def embed(self, items: list[dict[str, Any]], *, task: str, side: str) -> np.ndarray:
        self.calls.append((task, side, len(items)))
        rows = []
        for it in items:
            key = it.get("id") or it["text"]
            rows.append(np.zeros(self.dim, np.float32) if key in self.fail else _unit(key, self.dim))
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)


class OracleEmbedder:
    """One-hot of a group per item (``groups[item_id]``); a text is one-hot of ``groups[text]`` when known."""

    name = "oracle"

    def __init__(self, groups: dict[str, str]) -> None:
        self.groups = groups
        self.names = sorted(set(groups.values()))

    def embed(self, items: list[dict[str, Any]], *, task: str, side: str) -> np.ndarray:
        out = np.zeros((len(items), len(self.names)), np.float32)
        for r, it in enumerate(items):
            g = self.groups.get(it.get("id") or it.get("text", ""))
            if g is not None:
                out[r, self.names.index(g)] = 1.0
        return out
