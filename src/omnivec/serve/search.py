"""``/v1/search`` helpers: the index protocol the server needs, the query prompt, and result fields.

The server takes any object with this protocol (``omnivec.index.open_index`` returns one)::

    index.dim, index.size, index.info                       # int, int, dict
    index.search(queries: np.ndarray[Q, D], k) -> list[list[SearchHit]]   # hit.id, hit.score, hit.fields
    index.item(item_id) -> dict | None                       # fields incl. media paths

Media values of a hit (``image``, ``images``, ``video``, ``audio``: paths on the server, or inline data) are
not sent to clients: a result carries ``media`` (which of them the item has) and, when a media root is
configured, a ``thumbnail`` URL served by ``GET /v1/thumbnail?id=``. Relative media paths of the items are
resolved against the folder of the index's items file (``info["items"]["source"]``) when the index records it,
else against the media root; either way they must lie inside the media root.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import numpy as np

from omnivec.serve.schemas import MEDIA_KEYS
from omnivec.serve.thumbnails import Thumbnails

__all__ = [
    "IndexLike",
    "items_base_dir",
    "jsonable",
    "public_fields",
    "search_results",
    "search_task",
    "thumbnail_url",
]


class IndexLike(Protocol):
    """What the server calls on an index."""

    dim: int
    size: int
    info: dict[str, Any]

    def search(self, queries: np.ndarray, k: int) -> list[list[Any]]: ...

    def item(self, item_id: str) -> dict[str, Any] | None: ...


def search_task(
    requested: str | None, configured: str | None, index: Any, tasks: list[str], default: str
) -> str:
    """The task of a search query: the request's, else the server's setting, else the index's ``info["task"]``,
    else ``q2i`` (query → item, as :func:`omnivec.index.search`) when the model has it, else the model's default."""
    info = getattr(index, "info", None) or {}
    from_index = info.get("task") if isinstance(info, Mapping) else None
    fallback = "q2i" if "q2i" in tasks else default
    return requested or configured or (from_index if isinstance(from_index, str) else None) or fallback


def items_base_dir(index: Any) -> Path | None:
    """The folder relative media paths of the index's items are relative to (its items file's folder)."""
    info = getattr(index, "info", None) or {}
    items = info.get("items") if isinstance(info, Mapping) else None
    source = items.get("source") if isinstance(items, Mapping) else None
    return Path(source).parent if isinstance(source, str) and source else None


def search_results(index: Any, thumbnails: Thumbnails, embedding: np.ndarray, k: int) -> list[dict[str, Any]]:
    """Search and shape the hits for the wire (runs in a worker thread: index and item-table I/O)."""
    results = []
    for rank, hit in enumerate(index.search(embedding, k)[0], start=1):
        item_id = str(hit.id)
        stored = dict(hit.fields or {})
        if not any(k in stored for k in MEDIA_KEYS):  # the hit carries no media: look the item up
            stored = {**(index.item(item_id) or {}), **stored}
        fields, media = public_fields(stored)
        results.append({
            "rank": rank,
            "id": item_id,
            "score": jsonable(float(hit.score)),
            "fields": fields,
            "media": media,
            "thumbnail": thumbnail_url(item_id) if thumbnails.available(stored) else None,
        })  # fmt: skip
    return results


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays turned into JSON types; non-finite floats become ``None``."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def public_fields(fields: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """An item's fields without media values, and the names of the media it has."""
    if not fields:
        return {}, []
    media = [k for k in MEDIA_KEYS if fields.get(k) is not None and fields.get(k) != []]
    public = {k: jsonable(v) for k, v in fields.items() if k not in MEDIA_KEYS}
    return public, media


def thumbnail_url(item_id: str) -> str:
    """The page-relative URL of an item's thumbnail."""
    return "/v1/thumbnail?id=" + quote(str(item_id), safe="")
