"""Dynamic hard-negative mining for a training source (§3.1.2), with the current model.

For a source with item targets: embed its queries (query side of its primary pattern) and the corpus of its
distinct target items (target side); pick the per-source F1-optimal threshold λ* on positive vs in-batch
negative pairs; each query's hard negatives are the top-k corpus items strictly below λ* that are neither a
positive of that query nor a duplicate of one (candidates at or above λ* are presumed false negatives).
Used once per stage or every N steps by the runner, and offline by ``omnivec mine``. The sources of one mining
round share an :class:`~omnivec.training.embed_memo.EmbeddingMemo`: an item that several sources use as query or
target under the same rendered prompt is embedded once per round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omnivec.data.mining import mine_hard_negatives, threshold_from_pairs
from omnivec.errors import ConfigError
from omnivec.training.data import TrainingData
from omnivec.training.embed_memo import EmbeddingMemo


@dataclass
class MiningResult:
    source: str
    threshold: float
    f1: float
    negatives: dict[int, list[str]] = field(default_factory=dict)
    queries: int = 0
    mean_negatives: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "lambda_star": round(self.threshold, 4), "f1": round(self.f1, 4),
                "queries": self.queries, "mean_negatives": round(self.mean_negatives, 2)}  # fmt: skip


def mine_source(
    model: Any,
    data: TrainingData,
    source_name: str,
    *,
    k: int = 3,
    max_queries: int = 20000,
    prompt_task: str | None = None,
    seed: int = 0,
    batch_size: int = 32,
    show_progress_bar: bool = False,
    memo: EmbeddingMemo | None = None,
) -> MiningResult:
    """Mine ``k`` hard negatives per query of ``source_name`` (at most ``max_queries`` rows, seeded draw).

    ``memo`` shares embeddings with the other sources of the same mining round (same model weights); by
    default the source gets its own.
    """
    from omnivec.training.collator import DEFAULT_PROMPT_TASKS

    source = data.source(source_name)
    cfg = source.config
    if cfg.target != "item":
        raise ConfigError(
            f"hard negatives need item targets; source {source_name!r} has {cfg.target} targets"
        )
    qv, tv = cfg.patterns[0]
    task = prompt_task or DEFAULT_PROMPT_TASKS[cfg.task]
    rng = np.random.default_rng(seed)
    rows = np.arange(len(source.rows))
    if len(rows) > max_queries:
        rows = np.sort(rng.choice(rows, size=max_queries, replace=False))
    qcol, tcol = f"query_{cfg.query}", f"target_{cfg.target}"
    corpus_ids = sorted({r[tcol] for r in source.rows})
    corpus_pos = {item_id: i for i, item_id in enumerate(corpus_ids)}
    store = data.store
    query_keys = sorted({source.rows[r][qcol] for r in rows})
    query_pos = {key: i for i, key in enumerate(query_keys)}

    def raw(kind: str, value: str) -> dict:
        return store.item(value) if kind == "item" else {"text": value}

    if memo is None:
        memo = EmbeddingMemo(model, batch_size=batch_size, show_progress_bar=show_progress_bar)
    q_emb, q_mask = memo.embed([f"{cfg.query}:{key}" for key in query_keys],
                               [raw(cfg.query, key) for key in query_keys], task=task, side="query", view=qv)  # fmt: skip
    c_emb, c_mask = memo.embed([f"item:{i}" for i in corpus_ids], [store.item(i) for i in corpus_ids],
                               task=task, side="target", view=tv)  # fmt: skip
    q_ok, c_ok = set(np.flatnonzero(q_mask).tolist()), set(np.flatnonzero(c_mask).tolist())

    # positives: every target any row of the same query points at
    positives_by_query: dict[str, set[int]] = {}
    for r in source.rows:
        if r[qcol] in query_pos:
            positives_by_query.setdefault(r[qcol], set()).add(corpus_pos[r[tcol]])
    usable = [
        r
        for r in rows
        if query_pos[source.rows[r][qcol]] in q_ok and corpus_pos[source.rows[r][tcol]] in c_ok
    ]
    if len(usable) < 2:
        return MiningResult(source_name, float("nan"), float("nan"))
    qi = np.array([query_pos[source.rows[r][qcol]] for r in usable])
    ti = np.array([corpus_pos[source.rows[r][tcol]] for r in usable])
    corpus_groups = np.array([store.group_of(i) for i in corpus_ids])
    lam, f1 = threshold_from_pairs(q_emb[qi], c_emb[ti], groups=corpus_groups[ti], seed=seed)
    bad_corpus = [i for i in range(len(corpus_ids)) if i not in c_ok]
    positives = [positives_by_query[source.rows[r][qcol]] | set(bad_corpus) for r in usable]
    query_groups = (
        np.array([store.group_of(source.rows[r][qcol]) for r in usable]) if cfg.query == "item" else None
    )
    idx, _ = mine_hard_negatives(q_emb[qi], c_emb, positives, lam, k, corpus_groups=corpus_groups,
                                 query_groups=query_groups)  # fmt: skip
    negatives = {int(r): [corpus_ids[j] for j in row if j >= 0] for r, row in zip(usable, idx, strict=True)}
    counts = [len(v) for v in negatives.values()]
    return MiningResult(source_name, float(lam), float(f1), negatives, len(usable), float(np.mean(counts)))
