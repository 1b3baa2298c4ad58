"""Learning the hybrid query router (:mod:`omnivec.index.router`) from a data folder's own labelled queries.

The examples come from what a platform already has, never from evaluation tasks:

- **typed queries** from the training sources whose rows have a ``query_text`` and no ``query_item`` (search
  logs: query → clicked item; all clicks of one query string form its relevant set);
- **item queries** from the sources with ``query_item`` → ``target_item`` rows (item-to-item pairs);
- **known-item queries** mined from the catalogue's text fields (:func:`omnivec.index.router.known_item_queries`).

Rows with ``label`` 0 (graded negatives) are skipped, and only targets inside the corpus count. Each query is
searched dense (a caller-supplied function, so the same code serves the evaluation's exact search and an ANN
index) and lexical, then :func:`omnivec.index.router.fit_router` learns which side each kind of query prefers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.errors import ConfigError
from omnivec.evaluation.dataset import EvalData
from omnivec.index.lexical import item_text
from omnivec.index.router import NAME_FIELDS, RouterExample, known_item_queries

__all__ = [
    "DenseLists",
    "dense_lists_from_cache",
    "dense_lists_from_index",
    "fit_index_router",
    "router_examples",
    "source_pairs",
]

#: ``(keys, kind) -> top lists``: ``kind`` is ``"text"`` (keys are query strings) or ``"item"`` (keys are item
#: ids, whose own id must not be returned); each list holds ``(id, cosine)`` best first.
DenseLists = Callable[[list[str], str], list[list[tuple[str, float]]]]


def source_pairs(root: str | Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(text query → target ids, query item → target ids)`` over every training source in ``root/sources``."""
    from omnivec.data.readers import read_source

    folder = Path(root) / "sources"
    texts: dict[str, set[str]] = defaultdict(set)
    items: dict[str, set[str]] = defaultdict(set)
    paths = (
        sorted(p for p in folder.glob("*") if p.suffix in (".parquet", ".jsonl")) if folder.is_dir() else []
    )
    for path in paths:
        table, _ = read_source(path)
        names = set(table.column_names)
        cols = [c for c in ("query_item", "query_text", "target_item", "label") if c in names]
        for row in table.select(cols).to_pylist():
            target = row.get("target_item")
            if target is None or row.get("label", 1) == 0:
                continue
            if row.get("query_item") is not None:
                items[str(row["query_item"])].add(str(target))
            elif row.get("query_text"):
                texts[str(row["query_text"])].add(str(target))
    return dict(texts), dict(items)


def _sample(keys: list[str], n: int, rng: np.random.Generator) -> list[str]:
    if len(keys) <= n:
        return keys
    return [keys[i] for i in sorted(rng.choice(len(keys), size=n, replace=False).tolist())]


def router_examples(
    data: EvalData,
    lexical: Any,
    dense: DenseLists,
    corpus_ids: Sequence[str],
    *,
    n_text: int = 400,
    n_item: int = 400,
    n_known: int = 400,
    seed: int = 0,
    depth: int = 100,
    known_max_matches: int = 10,
) -> list[RouterExample]:
    """Labelled queries of the three kinds, each searched dense (``dense``) and lexical (``lexical``);
    ``known_max_matches`` is :func:`~omnivec.index.router.known_item_queries`' ``max_matches``."""
    rng = np.random.default_rng(seed)
    corpus = set(corpus_ids)
    text_pairs, item_pairs = source_pairs(data.root)
    text_rel = {q: t & corpus for q, t in text_pairs.items() if t & corpus}
    item_rel = {
        q: (t & corpus) - {q} for q, t in item_pairs.items() if q in data.store and (t & corpus) - {q}
    }
    texts = _sample(sorted(text_rel), n_text, rng)
    items = _sample(sorted(item_rel), n_item, rng)
    known = known_item_queries(
        [(i, data.item(i)) for i in corpus_ids], n_known, seed=seed, max_matches=known_max_matches
    )
    if not (texts or items) or not known:
        raise ConfigError(
            f"{data.root}: a router needs typed or item queries from training sources ({len(texts)} typed, "
            f"{len(items)} item) and known-item queries from item text ({len(known)})"
        )
    examples: list[RouterExample] = []
    typed = texts + [q for q, _ in known]
    typed_rel = [text_rel[q] for q in texts] + [rel for _, rel in known]
    kinds = ["search-log"] * len(texts) + ["known-item"] * len(known)
    for q, d, rel, kind in zip(typed, dense(typed, "text"), typed_rel, kinds, strict=True):
        examples.append(RouterExample(q, False, d, lexical.search([q], depth)[0], rel, kind))
    if items:
        for q, d in zip(items, dense(items, "item"), strict=True):
            text = item_text(data.item(q))
            hits = [(i, s) for i, s in lexical.search([text], depth + 1)[0] if i != q][:depth] if text else []
            examples.append(RouterExample(text, True, d, hits, item_rel[q], "item-pairs"))
    return examples


def dense_lists_from_cache(cache: Any, corpus_ids: Sequence[str], depth: int = 100) -> DenseLists:
    """A :data:`DenseLists` doing exact cosine search with an evaluation :class:`EmbeddingCache` (typed
    queries with the ``q2i`` query prompt, items with the ``i2i`` one, the corpus as ``q2i`` targets)."""
    from omnivec.evaluation.hybrid import exact_dense_lists

    def run(keys: list[str], kind: str) -> list[list[tuple[str, float]]]:
        task = "q2i" if kind == "text" else "i2i"
        return exact_dense_lists(cache, corpus_ids, keys, kind, depth, query_task=task, corpus_task="q2i")

    return run


def dense_lists_from_index(index: Any, cache: Any, depth: int = 100) -> DenseLists:
    """A :data:`DenseLists` searching ``index`` (the ANN that serves) with queries embedded by ``cache``'s
    embedder: typed queries with the ``q2i`` query prompt, items with the ``i2i`` one."""

    def run(keys: list[str], kind: str) -> list[list[tuple[str, float]]]:
        if not keys:
            return []
        vectors = cache.texts(keys, "q2i", "query") if kind == "text" else cache.items(keys, "i2i", "query")
        extra = 0 if kind == "text" else 1
        found = index.search(vectors, depth + extra)
        return [
            [(h.id, float(h.score)) for h in hits if kind == "text" or h.id != key][:depth]
            for key, hits in zip(keys, found, strict=True)
        ]

    return run


def fit_index_router(
    index_dir: str | Path,
    data_dir: str | Path,
    model_dir: str | Path | None = None,
    *,
    n_per_kind: int = 400,
    seed: int = 0,
    known_max_matches: int = 10,
    threshold: float | None = None,
    batch_size: int = 32,
    progress: bool = False,
    name_fields: Sequence[str] = NAME_FIELDS,
) -> tuple[Any, Path]:
    """Fit the query router of an index folder on a data folder's training sources and item text, and save
    it as ``router.json`` in the index folder (atomically). Returns ``(router, path)``.

    ``model_dir`` defaults to the model recorded in the index; queries are embedded at the index's width.
    ``name_fields`` are the item fields whose values are names (:func:`~omnivec.index.router.catalogue_names`).
    """
    from omnivec.evaluation.cache import EmbeddingCache
    from omnivec.evaluation.dataset import open_data
    from omnivec.evaluation.embedders import OmniEmbedder
    from omnivec.index import open_index
    from omnivec.index.router import catalogue_names, fit_router
    from omnivec.index.tables import read_ids
    from omnivec.model import load

    index = open_index(index_dir)
    try:
        lexical = index.lexical
        if lexical is None:
            raise ConfigError(
                f"index {index_dir} has no lexical part; a router splits weight between dense and BM25 "
                "(rebuild with `omnivec index build --lexical`)"
            )
        model_path = model_dir or index.info.get("model")
        if model_path is None:
            raise ConfigError(f"index {index_dir} records no model; pass the model folder")
        model = load(model_path)
        width = int(getattr(model, "dimension", 0) or 0)
        dims = index.dim if width and index.dim < width else None
        embedder = OmniEmbedder(model, batch_size=batch_size, dimensions=dims)
        data = open_data(data_dir, require_tasks=False)
        corpus = [i for i in read_ids(Path(index_dir)) if i in data.store]
        if not corpus:
            raise ConfigError(f"none of index {index_dir}'s items is in data folder {data_dir}")
        cache = EmbeddingCache(embedder, data.item, progress=progress)
        examples = router_examples(
            data, lexical, dense_lists_from_index(index, cache), corpus, n_text=n_per_kind,
            n_item=n_per_kind, n_known=n_per_kind, seed=seed, known_max_matches=known_max_matches,
        )  # fmt: skip
        names = catalogue_names([(i, data.item(i)) for i in corpus], lexical, fields=name_fields)
        router = fit_router(examples, lexical, threshold=threshold, names=names)
        router.stats.update({"data": str(data_dir), "model": str(model_path), "seed": seed})
        return router, router.save(Path(index_dir))
    finally:
        close = getattr(index, "close", None)
        if close is not None:
            close()
