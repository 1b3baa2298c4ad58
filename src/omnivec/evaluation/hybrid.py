"""Dense vs lexical (BM25) vs hybrid retrieval on a data folder's i2i and q2i tasks.

Every retrieval task whose query is an item or a text is ranked three ways over the same corpus:

- ``dense``: exact top-``candidates`` by cosine of the embedder's vectors (the same ranking as
  :func:`~omnivec.evaluation.tasks.evaluate`, so its numbers agree with the main table);
- ``lexical``: BM25 over the corpus items' text fields (:class:`~omnivec.index.lexical.LexicalIndex`), queried
  with the query text (q2i) or the query item's own text fields (i2i);
- ``hybrid``: the two candidate lists fused (:data:`omnivec.index.hybrid.FUSIONS`, reciprocal-rank fusion by
  default), exactly as ``omnivec search --mode hybrid`` and the server fuse them.

Metrics are computed on the top-``candidates`` list of each mode: Recall@k (the world's definition, for every
``k <= candidates``) and nDCG@10; an i2i query item never ranks itself. A query with no text has an empty
lexical list (scores 0); its hybrid list is the dense one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from omnivec.errors import ConfigError
from omnivec.evaluation.cache import EmbeddingCache
from omnivec.evaluation.dataset import EvalData, open_data
from omnivec.evaluation.embedders import Embedder
from omnivec.evaluation.metrics import ndcg_at_k, recall_at_k
from omnivec.evaluation.scoring import topk
from omnivec.evaluation.tasks import DEFAULT_KS

__all__ = [
    "MODES",
    "evaluate_modes",
    "exact_dense_lists",
    "hybrid_tasks",
    "lexical_index_for",
    "paired_difference",
]

MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")


def hybrid_tasks(data: EvalData) -> list[str]:
    """The folder's retrieval tasks a lexical index can serve: i2i and q2i with an item or text query."""
    return [
        c.name
        for c in data.tasks
        if c.type in ("i2i", "q2i")
        and c.query in ("item", "text")
        and any(m.startswith("recall@") for m in c.metrics)
    ]


def lexical_index_for(data: EvalData, ids: Sequence[str]) -> Any:
    """A BM25 index over the text fields of the items ``ids``."""
    from omnivec.index.lexical import LexicalIndex, item_text

    return LexicalIndex.build([item_text(data.item(i)) for i in ids], list(ids))


def _metrics(rankings: list[list[str]], relevant: list[set[str]], ks: Sequence[int]) -> dict[str, np.ndarray]:
    per = {f"recall@{k}": np.zeros(len(rankings)) for k in ks}
    per["ndcg@10"] = np.zeros(len(rankings))
    for q, (ranking, rel) in enumerate(zip(rankings, relevant, strict=True)):
        for k in ks:
            per[f"recall@{k}"][q] = recall_at_k(ranking, rel, k)
        per["ndcg@10"][q] = ndcg_at_k(ranking, rel, 10)
    return per


def _means(per: Mapping[str, np.ndarray], mask: np.ndarray | None = None) -> dict[str, float]:
    return {
        m: float((v if mask is None else v[mask]).mean())
        for m, v in per.items()
        if (mask is None or mask.any())
    }


def exact_dense_lists(
    cache: EmbeddingCache,
    ids: Sequence[str],
    keys: Sequence[str],
    kind: str,
    depth: int,
    *,
    query_task: str,
    corpus_task: str,
) -> list[list[tuple[str, float]]]:
    """Exact top-``depth`` corpus items (``ids``) by cosine for each query ``key``: a text (``kind="text"``) or
    an item id (``"item"``, never returned for itself), embedded with ``query_task``'s query prompt against the
    corpus under ``corpus_task``'s target prompt. A query the model failed to embed gets ``[]``."""
    ids = list(ids)
    corpus = cache.items(ids, corpus_task, "target")
    keys = list(keys)
    if kind == "item":
        queries = cache.items(keys, query_task, "query")
        pos_of = {i: n for n, i in enumerate(ids)}
        exclude = np.array([pos_of.get(k, -1) for k in keys], dtype=np.int64)
    else:
        queries, exclude = cache.texts(keys, query_task, "query"), None
    idx, sc = topk(queries, corpus, min(depth, len(ids)), exclude=exclude)
    return [
        []
        if cache.is_failed(kind, key, query_task, "query")
        else [(ids[j], float(s)) for j, s in zip(idx[q].tolist(), sc[q].tolist(), strict=True) if j >= 0]
        for q, key in enumerate(keys)
    ]


def evaluate_modes(
    embedder: Embedder | None,
    data_dir: str | Path | EvalData,
    tasks: Sequence[str] | None = None,
    *,
    lexical: Any | None = None,
    modes: Sequence[str] = MODES,
    fusion: str = "rrf",
    weights: Sequence[float] | None = None,
    candidates: int = 100,
    ks: Sequence[int] = DEFAULT_KS,
    cache: EmbeddingCache | None = None,
    router: Any | None = None,
    cold_split: bool = True,
    progress: bool = False,
    per_query: dict[str, dict[str, dict[str, np.ndarray]]] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{mode: {task: {metric: value}}}`` (plus ``"<task>/cold"`` rows) for each of ``modes``.

    Args:
        embedder: the dense model (not needed when ``modes`` is ``["lexical"]``).
        data_dir: a world or dataset folder (or an opened :class:`EvalData`).
        tasks: task names (default: :func:`hybrid_tasks`).
        lexical: a prebuilt :class:`~omnivec.index.lexical.LexicalIndex` over the corpus (built when ``None``).
        fusion: a name in :data:`omnivec.index.hybrid.FUSIONS` (``rrf`` or ``weighted``).
        weights: ``(dense, lexical)`` fusion weights (default equal).
        router: a :class:`~omnivec.index.router.QueryRouter`: each query's weights come from it instead
            (``weights`` must then be ``None``), exactly as ``hybrid_search(..., weights="auto")`` routes.
        per_query: a dict to fill with ``{mode: {task: {metric: per-query values}}}`` (for
            :func:`paired_difference`).
        candidates: depth of each mode's list (and of the fused list).
        cache: an :class:`EmbeddingCache` shared with :func:`~omnivec.evaluation.tasks.evaluate` (no second
            corpus pass when given the one the main evaluation used).
    """
    from omnivec.index.hybrid import get_fusion

    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ConfigError(f"unknown retrieval mode(s) {unknown}; expected some of {list(MODES)}")
    if embedder is None and any(m != "lexical" for m in modes):
        raise ConfigError("modes 'dense' and 'hybrid' need an embedder")
    if candidates < max(ks):
        raise ConfigError(f"candidates ({candidates}) must be >= the largest k ({max(ks)})")
    fuse = get_fusion(fusion)
    if router is not None and weights is not None:
        raise ConfigError("give either fixed weights or a router, not both")
    data = data_dir if isinstance(data_dir, EvalData) else open_data(data_dir)
    names = list(tasks) if tasks is not None else hybrid_tasks(data)
    servable = set(hybrid_tasks(data))
    bad = [n for n in names if n not in servable]
    if bad:
        raise ConfigError(f"task(s) {bad} are not i2i/q2i retrieval tasks with an item or text query")
    if embedder is not None and cache is None:
        cache = EmbeddingCache(embedder, data.item, progress=progress)
    out: dict[str, dict[str, dict[str, float]]] = {m: {} for m in modes}
    lex_by_corpus: dict[tuple[str, ...], Any] = {}
    for name in tqdm(names, desc="dense/lexical/hybrid", disable=not progress, leave=False):
        cfg = data.task(name)
        rows = data.rows(cfg)
        ids = data.corpus_ids(cfg)
        in_corpus = set(ids)
        key = tuple(ids)
        if lexical is not None:
            lex = lexical
        else:
            if key not in lex_by_corpus:
                lex_by_corpus[key] = lexical_index_for(data, ids)
            lex = lex_by_corpus[key]
        task = cfg.type
        own = [r.get("query_item") if cfg.query == "item" else None for r in rows]
        relevant = [
            {i for i in (r.get("relevant") or []) if i in in_corpus and i != o}
            for r, o in zip(rows, own, strict=True)
        ]
        scored: dict[str, list[list[tuple[str, float]]]] = {}
        if "lexical" in modes or "hybrid" in modes:
            from omnivec.index.lexical import item_text

            texts = [
                r["query_text"] if cfg.query == "text" else item_text(data.item(r["query_item"]))
                for r in rows
            ]
            found = lex.search(texts, candidates + 1)
            scored["lexical"] = [
                [(i, s) for i, s in hits if i != o and i in in_corpus][:candidates]
                for hits, o in zip(found, own, strict=True)
            ]
        if cache is not None and ("dense" in modes or "hybrid" in modes):
            kind = "item" if cfg.query == "item" else "text"
            keys = [r["query_item"] if kind == "item" else r["query_text"] for r in rows]
            scored["dense"] = exact_dense_lists(
                cache, ids, keys, kind, candidates, query_task=task, corpus_task=task
            )
        if "hybrid" in modes:
            w = list(weights) if weights is not None else None
            query_weights = [w] * len(rows)
            if router is not None:
                query_weights = [
                    [
                        (r := router.route(lex, t, d, lx, item_query=cfg.query == "item"))["dense"],
                        r["lexical"],
                    ]
                    for t, d, lx in zip(texts, scored["dense"], scored["lexical"], strict=True)
                ]
            scored["hybrid"] = [
                fuse([d, lx], qw, limit=candidates)
                for d, lx, qw in zip(scored["dense"], scored["lexical"], query_weights, strict=True)
            ]
        cold = np.array([bool(r.get("cold")) for r in rows], dtype=bool)
        for mode in modes:
            per = _metrics(
                [[i for i, _ in r] for r in scored[mode]], relevant, [k for k in ks if k <= candidates]
            )
            out[mode][name] = _means(per)
            if per_query is not None:
                per_query.setdefault(mode, {})[name] = per
            if cold_split and cold.any():
                out[mode][f"{name}/cold"] = _means(per, cold)
    return out


def paired_difference(
    a: Mapping[str, Mapping[str, np.ndarray]],
    b: Mapping[str, Mapping[str, np.ndarray]],
    tasks: Sequence[str],
    metric: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """``(difference, low, high)``: the mean over ``tasks`` of ``a``'s minus ``b``'s per-task mean ``metric``,
    with a paired bootstrap confidence interval (queries resampled within each task, the same resample for
    both sides). ``a``/``b`` are one mode's ``{task: {metric: per-query values}}`` (``evaluate_modes``'
    ``per_query``). An interval that holds 0 means the two are not told apart by these queries."""
    if not tasks:
        raise ConfigError("paired_difference: no tasks")
    diffs = []
    for t in tasks:
        x, y = np.asarray(a[t][metric], dtype=np.float64), np.asarray(b[t][metric], dtype=np.float64)
        if x.shape != y.shape or x.size == 0:
            raise ConfigError(f"paired_difference: task {t!r} has {x.size} vs {y.size} per-query values")
        diffs.append(x - y)
    point = float(np.mean([d.mean() for d in diffs]))
    rng = np.random.default_rng(seed)
    boots = np.zeros(n_boot)
    for d in diffs:
        boots += d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    boots /= len(diffs)
    tail = (1.0 - level) / 2
    return point, float(np.quantile(boots, tail)), float(np.quantile(boots, 1 - tail))
