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

Search modes (:mod:`omnivec.index.hybrid`): ``dense`` needs the embedded query; ``lexical`` and ``hybrid``
need query text and an index with a lexical part (``index.lexical``, built by ``omnivec index build``).
:func:`resolve_search` picks the mode and options of a request and :func:`run_search` runs it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import numpy as np

from omnivec.errors import ConfigError, ItemError
from omnivec.index.hybrid import AUTO, MODES, hybrid_search, lexical_of, resolve_weights, router_of
from omnivec.index.search import is_item_query, query_text
from omnivec.inputs import parse_item
from omnivec.serve.errors import APIError, item_errors
from omnivec.serve.schemas import MEDIA_KEYS, SearchRequest, check_wire_item
from omnivec.serve.settings import ServeSettings
from omnivec.serve.thumbnails import Thumbnails

__all__ = [
    "IndexLike",
    "SearchPlan",
    "check_lexical_query",
    "has_lexical",
    "items_base_dir",
    "jsonable",
    "public_fields",
    "resolve_search",
    "run_search",
    "search_modes",
    "search_results",
    "search_task",
    "shape_hits",
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


@dataclass
class SearchPlan:
    """What one ``/v1/search`` request runs: the mode, the query text, and the hybrid options."""

    mode: str
    k: int
    text: str | None
    fusion: str | None = None
    weights: dict[str, float] | str = field(default_factory=dict)
    candidates: int | None = None
    item_query: bool = False

    def describe(self) -> dict[str, Any]:
        """The response keys that say what ran."""
        hybrid = self.mode == "hybrid"
        return {
            "mode": self.mode,
            "fusion": self.fusion if hybrid else None,
            "weights": self.weights if hybrid else None,
            "candidates": self.candidates if hybrid else None,
        }


def has_lexical(index: Any) -> bool:
    """Whether ``index`` has a lexical part (without loading it when the index can tell)."""
    known = getattr(index, "has_lexical", None)
    return bool(known) if known is not None else lexical_of(index) is not None


def search_modes(index: Any) -> list[str]:
    """The modes ``/v1/search`` can run on ``index`` (none without an index)."""
    if index is None:
        return []
    return list(MODES) if has_lexical(index) else ["dense"]


def resolve_search(req: SearchRequest, settings: ServeSettings, index: Any, k: int) -> SearchPlan:
    """The mode and options of a request (400 naming the parameter when they cannot work).

    No ``mode`` in the request: the server's ``search_mode``; a query without text then runs ``dense``. A
    requested ``lexical``/``hybrid`` mode needs query text and an index built with a lexical part.
    """
    text = query_text(req.query) if isinstance(req.query, (str, Mapping)) else ""
    text = text if text.strip() else None
    mode = req.mode or settings.search_mode
    if req.mode is None and mode != "dense" and (text is None or not has_lexical(index)):
        mode = "dense"
    if mode != "dense":
        if text is None:
            raise APIError(
                400, f"mode {mode!r} needs query text (a string, or an item with text or title, ocr, asr, "
                "nickname, tags)", param="mode", code="invalid_value",
            )  # fmt: skip
        if not has_lexical(index):
            raise APIError(
                400, f"mode {mode!r} needs a lexical index, but the loaded index has none; rebuild it with "
                "`omnivec index build --lexical` (items with text fields)", param="mode",
                code="no_lexical_index",
            )  # fmt: skip
    extras = [name for name in ("fusion", "weights", "candidates") if getattr(req, name) is not None]
    if extras and mode != "hybrid":
        raise APIError(
            400, f"{', '.join(extras)} apply to mode 'hybrid' only (this search runs {mode!r})",
            param=extras[0], code="invalid_value",
        )  # fmt: skip
    if mode == "lexical":
        check_lexical_query(req.query, settings)
    if mode != "hybrid":
        return SearchPlan(mode=mode, k=k, text=text)
    weights: dict[str, float] | str
    router = router_of(index)
    if req.weights == AUTO or (req.weights is None and router is not None):
        if router is None:
            raise APIError(
                400, "weights 'auto' needs an index with a query router; fit one with `omnivec index fit-router`",
                param="weights", code="no_router",
            )  # fmt: skip
        weights = AUTO
    else:
        try:
            weights = resolve_weights(req.weights if isinstance(req.weights, Mapping) else None)
        except ConfigError as exc:
            raise APIError(400, str(exc), param="weights", code="invalid_value") from None
    candidates = req.candidates if req.candidates is not None else min(100, settings.max_search_candidates)
    if candidates > settings.max_search_candidates:
        raise APIError(
            400, f"candidates must be at most {settings.max_search_candidates}", param="candidates",
            code="invalid_value",
        )  # fmt: skip
    return SearchPlan(
        mode=mode, k=k, text=text, fusion=req.fusion or settings.search_fusion, weights=weights,
        candidates=candidates, item_query=is_item_query(req.query),
    )  # fmt: skip


def check_lexical_query(query: str | Mapping[str, Any], settings: ServeSettings) -> None:
    """Validate a query that is never embedded (lexical mode): known keys and field types (422 like
    ``/v1/embeddings``), text within ``max_text_chars``, and no media (400: BM25 matches text only)."""
    try:
        item = parse_item(check_wire_item(query, 0), None)
    except ItemError as err:
        raise item_errors([err], prefix="query", indexed=False) from None
    media = [key for key in MEDIA_KEYS if getattr(item, key, None) not in (None, [])]
    if media:
        raise APIError(
            400, f"mode 'lexical' matches text only, but the query has {', '.join(media)}; use mode 'hybrid' "
            "or 'dense' for media", param="mode", code="invalid_value",
        )  # fmt: skip
    length = len(query_text(query))
    if length > settings.max_text_chars:
        raise APIError(
            422, f"query: text has {length} characters, more than max_text_chars={settings.max_text_chars}",
            param="query", code="text_too_long",
        )  # fmt: skip


def run_search(
    index: Any, thumbnails: Thumbnails, plan: SearchPlan, embedding: np.ndarray | None
) -> list[dict[str, Any]]:
    """Run ``plan`` (``embedding``: the query's, ``None`` for lexical) and shape the hits for the wire.
    Runs in a worker thread: index, BM25 and item-table work."""
    if plan.mode == "dense":
        assert embedding is not None
        return search_results(index, thumbnails, embedding, plan.k)
    hits = hybrid_search(
        index, vector=embedding, text=plan.text, k=plan.k, mode=plan.mode, fusion=plan.fusion or "rrf",
        weights=plan.weights or None, candidates=plan.candidates or plan.k, item_query=plan.item_query,
    )  # fmt: skip
    return shape_hits(index, thumbnails, hits)


def search_results(index: Any, thumbnails: Thumbnails, embedding: np.ndarray, k: int) -> list[dict[str, Any]]:
    """Dense search, shaped for the wire (runs in a worker thread: index and item-table I/O)."""
    return shape_hits(index, thumbnails, index.search(embedding, k)[0])


def shape_hits(index: Any, thumbnails: Thumbnails, hits: list[Any]) -> list[dict[str, Any]]:
    """Hits (``id``, ``score``, ``fields``, optional ``details``) as the wire's result objects."""
    results = []
    for rank, hit in enumerate(hits, start=1):
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
        details = getattr(hit, "details", None)
        if details:
            results[-1]["details"] = jsonable(details)
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
