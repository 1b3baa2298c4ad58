"""The (query, target) pairs of every source of a data folder, as raw items: what the baselines train on."""

from __future__ import annotations

from typing import Any

import numpy as np

from omnivec.training.data import TrainingData


def all_pairs(data: TrainingData, *, max_pairs: int | None = None, seed: int = 0) -> list[tuple[dict, dict]]:
    """Every source's pairs mixed together (no balancing, no specialization), optionally subsampled."""
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for name in data.source_names:
        src = data.source(name)
        cfg = src.config
        for row in src.rows:
            q, t = row[f"query_{cfg.query}"], row[f"target_{cfg.target}"]
            pairs.append((data.store.item(q) if cfg.query == "item" else {"text": q},
                          data.store.item(t) if cfg.target == "item" else {"text": t}))  # fmt: skip
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    if max_pairs is not None:
        order = order[:max_pairs]
    return [pairs[i] for i in order]
