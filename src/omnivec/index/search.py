"""Searching an index with a model: encode the query item, then :meth:`Index.search`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from omnivec.errors import ConfigError
from omnivec.index.protocol import Index, SearchHit


def search(
    model: Any,
    index: Index,
    query_item: Mapping[str, Any] | str,
    k: int = 10,
    *,
    task: str = "q2i",
    side: str = "query",
) -> list[SearchHit]:
    """Top-``k`` items of ``index`` for one query item (text and/or media), best first.

    The query is embedded with ``model.encode(query_item, task=task, side=side)`` at full width; the index
    takes the leading ``index.dim`` components and re-normalises them, exactly as at build time.
    """
    width = int(getattr(model, "dimension", 0) or 0)
    if width and width < index.dim:
        raise ConfigError(f"the model embeds {width} components but the index was built at dim {index.dim}")
    dims = list(getattr(model, "matryoshka_dims", []) or [])
    if dims and index.dim not in dims and index.dim != width:
        warnings.warn(
            f"index dim {index.dim} is not one of the model's Matryoshka dims {dims}; "
            "truncating to an untrained width may lower quality",
            stacklevel=2,
        )
    item = dict(query_item) if isinstance(query_item, Mapping) else query_item
    vector = np.asarray(model.encode(item, task=task, side=side), dtype=np.float32)
    return index.search(vector.reshape(1, -1), k)[0]
