"""Searching an index with a model: encode the query item, then search dense, lexical or hybrid."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from omnivec.errors import ConfigError
from omnivec.index.hybrid import DEFAULT_CANDIDATES, DEFAULT_RRF_K, MODES, hybrid_search
from omnivec.index.lexical import LEXICAL_FIELDS, item_text
from omnivec.index.protocol import Index, SearchHit


def query_text(query_item: Mapping[str, Any] | str) -> str:
    """The text a lexical search uses for a query item: the string itself, or its text fields joined."""
    return query_item if isinstance(query_item, str) else item_text(query_item)


def is_item_query(query_item: Mapping[str, Any] | str) -> bool:
    """Whether a query is a catalogue item (it has item text fields such as ``title`` or ``tags``) rather than
    a typed query (a string, or only ``text`` and media): the query router treats the two differently."""
    return isinstance(query_item, Mapping) and any(
        query_item.get(f) not in (None, "", []) for f in LEXICAL_FIELDS if f != "text"
    )


def search(
    model: Any,
    index: Index,
    query_item: Mapping[str, Any] | str,
    k: int = 10,
    *,
    task: str = "q2i",
    side: str = "query",
    mode: str = "dense",
    fusion: str = "rrf",
    weights: Mapping[str, float] | str | None = None,
    candidates: int = DEFAULT_CANDIDATES,
    rrf_k: int = DEFAULT_RRF_K,
) -> list[SearchHit]:
    """Top-``k`` items of ``index`` for one query item (text and/or media), best first.

    ``mode`` (see :mod:`omnivec.index.hybrid`): ``dense`` (default) embeds the query with
    ``model.encode(query_item, task=task, side=side)`` at full width; the index takes the leading
    ``index.dim`` components and re-normalises them, exactly as at build time. ``lexical`` searches the
    index's BM25 part with the query's text (``model`` is not used and may be ``None``). ``hybrid`` does
    both, ``candidates`` deep, and fuses them with ``fusion`` (``rrf`` or ``weighted``) under ``weights``
    (``{"dense": w, "lexical": w}``, or ``"auto"``/``None`` for the index's query router when it has one).
    """
    if mode not in MODES:
        raise ConfigError(f"unknown search mode {mode!r}; expected one of {list(MODES)}")
    item = dict(query_item) if isinstance(query_item, Mapping) else query_item
    text = query_text(item) if mode != "dense" else None
    vector = None
    if mode != "lexical":
        if model is None:
            raise ConfigError(f"mode {mode!r} needs a model to embed the query")
        vector = _embed(model, index, item, task, side)
    if mode == "dense":
        assert vector is not None
        return index.search(vector.reshape(1, -1), k)[0]
    return hybrid_search(
        index, vector=vector, text=text, k=k, mode=mode, fusion=fusion, weights=weights,
        candidates=candidates, rrf_k=rrf_k, item_query=is_item_query(item),
    )  # fmt: skip


def _embed(model: Any, index: Index, item: dict[str, Any] | str, task: str, side: str) -> np.ndarray:
    width = int(getattr(model, "dimension", 0) or 0)
    if width and width < index.dim:
        raise ConfigError(f"the model embeds {width} components but the index was built at dim {index.dim}")
    dims = list(getattr(model, "matryoshka_dims", []) or [])
    if dims and index.dim not in dims and index.dim != width:
        warnings.warn(
            f"index dim {index.dim} is not one of the model's Matryoshka dims {dims}; "
            "truncating to an untrained width may lower quality",
            stacklevel=3,
        )
    return np.asarray(model.encode(item, task=task, side=side), dtype=np.float32)
