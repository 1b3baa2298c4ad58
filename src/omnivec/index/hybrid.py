"""Hybrid retrieval: dense (vector) and lexical (BM25) candidates fused into one ranking.

    from omnivec.index import open_index
    from omnivec.index.hybrid import hybrid_search, rrf_fuse
    index = open_index("idx")                                  # built with a lexical/ part
    hits = hybrid_search(index, vector=q_vec, text="x7-200 charger", k=10, mode="hybrid",
                         fusion="rrf", weights={"dense": 1.0, "lexical": 0.5}, candidates=100)

Modes (:data:`MODES`): ``dense`` (the vector index alone; scores are cosine similarities), ``lexical`` (BM25
alone; needs only text), ``hybrid`` (``candidates`` from each side, fused). Fusions (:data:`FUSIONS`):

* ``rrf``, reciprocal-rank fusion (Cormack et al., 2009): ``score(d) = Σ_r w_r / (k + rank_r(d))`` over the
  rankings that contain ``d``, ranks from 1, ``k = 60`` by default. Uses ranks only, so BM25 and cosine
  scales never need to agree; the robust default.
* ``weighted``: each side's scores normalised (``minmax`` to [0, 1] by default, or ``none``), then
  ``Σ_r w_r · norm_r(d)``; an item missing from a side gets 0 there. Lets a strong score on one side win.

Ties (equal fused score) are broken by the item's best rank in any single ranking, then by id, so results
are deterministic. A ranking whose weight is 0 is ignored.

Weights are per query: a mapping, or ``"auto"`` for the query router (:mod:`omnivec.index.router`) that
``omnivec index fit-router`` stores beside the index, which gives a name/code query BM25's order and a
descriptive query the dense order. With ``weights=None`` an index that has a router uses it; one without
fuses with equal weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnivec.errors import ConfigError
from omnivec.index.protocol import SearchHit

__all__ = [
    "AUTO",
    "DEFAULT_WEIGHTS",
    "FUSIONS",
    "MODES",
    "NORMALISERS",
    "HybridSearcher",
    "get_fusion",
    "hybrid_search",
    "lexical_of",
    "resolve_weights",
    "rrf_fuse",
    "weighted_fuse",
]

#: Search modes, in the order the CLI and server list them.
MODES: tuple[str, ...] = ("dense", "lexical", "hybrid")
#: Rankings fused in ``hybrid`` mode, in this order (``weights`` keys).
SIDES: tuple[str, ...] = ("dense", "lexical")
DEFAULT_WEIGHTS: dict[str, float] = {"dense": 1.0, "lexical": 1.0}
#: ``weights`` value that asks the index's query router for each query's weights.
AUTO = "auto"
DEFAULT_CANDIDATES = 100
DEFAULT_RRF_K = 60


# ------------------------------------------------------------------ fusion functions
def _check_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1.0] * n
    w = [float(x) for x in weights]
    if len(w) != n:
        raise ConfigError(f"fusion weights: got {len(w)} weight(s) for {n} ranking(s)")
    bad = [x for x in w if not math.isfinite(x) or x < 0]
    if bad:
        raise ConfigError(f"fusion weights must be finite and non-negative, got {w}")
    return w


def _check_limit(limit: int | None) -> int | None:
    if limit is not None and int(limit) < 1:
        raise ConfigError(f"fusion limit must be at least 1 (or None), got {limit}")
    return None if limit is None else int(limit)


def _ranked(fused: dict[str, float], best_rank: dict[str, int], limit: int | None) -> list[tuple[str, float]]:
    order = sorted(fused, key=lambda i: (-fused[i], best_rank[i], i))
    return [(i, fused[i]) for i in (order if limit is None else order[:limit])]


def rrf_fuse(
    rankings: list[list[str]],
    *,
    k: int = DEFAULT_RRF_K,
    weights: list[float] | None = None,
    limit: int | None = None,
) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: ``score(d) = Σ_r w_r / (k + rank_r(d))``, ranks starting at 1.

    ``rankings`` are id lists, best first (an id repeated within one list counts at its first rank);
    ``weights`` default to 1 each. Returns ``(id, score)`` best first, at most ``limit``; ties by best
    single rank, then id.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ConfigError(f"rrf k must be a non-negative integer, got {k!r}")
    w = _check_weights(weights, len(rankings))
    limit = _check_limit(limit)
    fused: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    for ranking, weight in zip(rankings, w, strict=True):
        if weight == 0:
            continue
        seen: set[str] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
            best_rank[item] = min(best_rank.get(item, rank), rank)
    return _ranked(fused, best_rank, limit)


def _minmax(scores: list[float]) -> list[float]:
    lo, hi = min(scores), max(scores)
    if hi - lo <= 0:
        return [1.0] * len(scores)  # one candidate, or all tied: all equally the best of their side
    return [(s - lo) / (hi - lo) for s in scores]


def _identity(scores: list[float]) -> list[float]:
    return list(scores)


#: Score normalisers of :func:`weighted_fuse`: ``minmax`` maps a ranking's scores to [0, 1] (all-equal → 1);
#: ``none`` keeps raw scores (only sensible when the sides share a scale).
NORMALISERS: dict[str, Callable[[list[float]], list[float]]] = {"minmax": _minmax, "none": _identity}


def weighted_fuse(
    scored: list[list[tuple[str, float]]],
    weights: list[float] | None = None,
    *,
    normalise: str = "minmax",
    limit: int | None = None,
) -> list[tuple[str, float]]:
    """Weighted score sum: ``score(d) = Σ_r w_r · norm_r(score_r(d))``;
    0 where ``d`` is not in ranking ``r``.

    ``scored`` are ``(id, score)`` lists, best first (higher score is better); ``normalise`` is a name in
    :data:`NORMALISERS`. Returns ``(id, score)`` best first, at most ``limit``; ties by best single rank,
    then id.
    """
    try:
        norm = NORMALISERS[normalise]
    except KeyError:
        raise ConfigError(f"unknown normalise {normalise!r}; expected one of {sorted(NORMALISERS)}") from None
    w = _check_weights(weights, len(scored))
    limit = _check_limit(limit)
    fused: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    for ranking, weight in zip(scored, w, strict=True):
        if weight == 0 or not ranking:
            continue
        first: dict[str, tuple[int, float]] = {}
        for rank, (item, score) in enumerate(ranking, start=1):
            if not math.isfinite(float(score)):
                raise ConfigError(f"weighted fusion: score of {item!r} is not finite ({score})")
            first.setdefault(item, (rank, float(score)))
        items = list(first)
        for item, value in zip(items, norm([first[i][1] for i in items]), strict=True):
            fused[item] = fused.get(item, 0.0) + weight * value
            best_rank[item] = min(best_rank.get(item, first[item][0]), first[item][0])
    return _ranked(fused, best_rank, limit)


def _rrf_scored(
    scored: list[list[tuple[str, float]]],
    weights: list[float] | None = None,
    *,
    limit: int | None = None,
    rrf_k: int = DEFAULT_RRF_K,
    **_: Any,
) -> list[tuple[str, float]]:
    return rrf_fuse([[i for i, _ in s] for s in scored], k=rrf_k, weights=weights, limit=limit)


def _weighted_scored(
    scored: list[list[tuple[str, float]]],
    weights: list[float] | None = None,
    *,
    limit: int | None = None,
    normalise: str = "minmax",
    **_: Any,
) -> list[tuple[str, float]]:
    return weighted_fuse(scored, weights, normalise=normalise, limit=limit)


#: Fusion registry: name → ``fn(scored, weights, *, limit, **options)`` over ``(id, score)`` rankings,
#: returning ``(id, fused score)`` best first. Options: ``rrf_k`` (rrf), ``normalise`` (weighted).
FUSIONS: dict[str, Callable[..., list[tuple[str, float]]]] = {
    "rrf": _rrf_scored,
    "weighted": _weighted_scored,
}


def get_fusion(name: str) -> Callable[..., list[tuple[str, float]]]:
    """The fusion registered as ``name``; :class:`ConfigError` listing the known ones otherwise."""
    try:
        return FUSIONS[name]
    except KeyError:
        raise ConfigError(f"unknown fusion {name!r}; expected one of {sorted(FUSIONS)}") from None


def resolve_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """``{"dense": w, "lexical": w}`` from a partial mapping (missing sides default to 1)."""
    out = dict(DEFAULT_WEIGHTS)
    if weights is None:
        return out
    unknown = sorted(set(weights) - set(SIDES))
    if unknown:
        raise ConfigError(f"weights: unknown key(s) {unknown}; expected some of {list(SIDES)}")
    for side, value in weights.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"weights.{side} must be a number, got {value!r}") from None
        if not math.isfinite(v) or v < 0:
            raise ConfigError(f"weights.{side} must be finite and non-negative, got {value!r}")
        out[side] = v
    if not any(out.values()):
        raise ConfigError("weights: at least one of dense and lexical must be above 0")
    return out


# ---------------------------------------------------------------------- searching
def lexical_of(index: Any) -> Any:
    """The lexical part of ``index`` (``index.lexical``), or ``None`` when it was built without one."""
    return getattr(index, "lexical", None)


def router_of(index: Any) -> Any:
    """The query router stored with ``index`` (``index.router``), or ``None``."""
    return getattr(index, "router", None)


def _require_lexical(index: Any, mode: str) -> Any:
    lexical = lexical_of(index)
    if lexical is None:
        where = getattr(index, "path", None)
        raise ConfigError(
            f"mode {mode!r} needs a lexical index, but index {str(where) if where else ''} has none; "
            "rebuild it with `omnivec index build --lexical` (items with text fields)"
        )
    return lexical


def _fields(index: Any, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Stored fields of ``ids`` (batched when the index can)."""
    many = getattr(index, "item_fields", None)
    if many is not None:
        return list(many(list(ids)))
    return [dict(index.item(i) or {}) for i in ids]


def _dense(index: Any, vector: np.ndarray, n: int) -> list[SearchHit]:
    q = np.asarray(vector, dtype=np.float32)
    return list(index.search(q.reshape(1, -1) if q.ndim == 1 else q[:1], n)[0])


def hybrid_search(
    index: Any,
    *,
    vector: np.ndarray | None = None,
    text: str | None = None,
    k: int = 10,
    mode: str = "hybrid",
    fusion: str = "rrf",
    weights: Mapping[str, float] | str | None = None,
    candidates: int = DEFAULT_CANDIDATES,
    rrf_k: int = DEFAULT_RRF_K,
    normalise: str = "minmax",
    item_query: bool = False,
    router: Any | None = None,
) -> list[SearchHit]:
    """Top-``k`` items of ``index`` for one query, best first, as :class:`SearchHit`\\ s.

    ``index`` is an opened index (its ``lexical`` attribute is the BM25 part, :func:`open_index` sets it).
    ``vector`` is the query embedding (needed by ``dense`` and ``hybrid``), ``text`` the query text (needed
    by ``lexical`` and ``hybrid``). In ``hybrid`` mode ``max(candidates, k)`` hits are taken from each side
    and fused with ``fusion`` (``rrf_k`` / ``normalise`` are its options) under ``weights``
    (``{"dense": w, "lexical": w}``; ``"auto"``: ``router``, else the index's router, decides per query, with
    ``item_query`` saying whether ``text`` is a query item's fields; ``None``: auto when the index has a
    router, else 1 each); each hit's ``details`` says its rank and score per side.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown search mode {mode!r}; expected one of {list(MODES)}")
    if int(k) < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    k = int(k)
    has_text = text is not None and text.strip() != ""
    if mode in ("dense", "hybrid") and vector is None:
        raise ConfigError(f"mode {mode!r} needs a query vector (an embedded query)")
    if mode in ("lexical", "hybrid") and not has_text:
        raise ConfigError(f"mode {mode!r} needs query text; give the query a text field")
    if mode == "dense":
        assert vector is not None
        return _dense(index, vector, k)
    lexical = _require_lexical(index, mode)
    if mode == "lexical":
        assert text is not None
        found = lexical.search([text], k)[0]
        return [
            SearchHit(i, s, f, {"lexical": {"rank": r, "score": s}})
            for r, ((i, s), f) in enumerate(zip(found, _fields(index, [i for i, _ in found]), strict=True), 1)
        ]
    fuse = get_fusion(fusion)
    router = router if router is not None else router_of(index)
    auto = weights == AUTO or (weights is None and router is not None)
    if auto and router is None:
        where = getattr(index, "path", None)
        raise ConfigError(
            f"weights 'auto' needs a query router, but index {str(where) if where else ''} has none; "
            "fit one with `omnivec index fit-router`"
        )
    if isinstance(weights, str) and weights != AUTO:
        raise ConfigError(f"weights must be a mapping or {AUTO!r}, got {weights!r}")
    w = None if auto else resolve_weights(weights if not isinstance(weights, str) else None)
    if int(candidates) < 1:
        raise ConfigError(f"candidates must be at least 1, got {candidates}")
    depth = max(int(candidates), k)
    assert vector is not None and text is not None
    dense_hits = _dense(index, vector, depth)
    lexical_found = lexical.search([text], depth)[0]
    if w is None:
        w = router.route(
            lexical, text, [(h.id, float(h.score)) for h in dense_hits], lexical_found, item_query=item_query
        )
    fused = fuse(
        [[(h.id, float(h.score)) for h in dense_hits], lexical_found],
        [w["dense"], w["lexical"]],
        limit=k,
        rrf_k=rrf_k,
        normalise=normalise,
    )
    details: dict[str, dict[str, dict[str, float | int]]] = {}
    for side, ranking in (
        ("dense", [(h.id, float(h.score)) for h in dense_hits]),
        ("lexical", lexical_found),
    ):
        for rank, (i, s) in enumerate(ranking, start=1):
            details.setdefault(i, {}).setdefault(side, {"rank": rank, "score": s})
    known = {h.id: dict(h.fields or {}) for h in dense_hits}
    missing = [i for i, _ in fused if i not in known]
    known.update(zip(missing, _fields(index, missing), strict=True))
    return [SearchHit(i, s, known[i], details[i]) for i, s in fused]


@dataclass
class HybridSearcher:
    """:func:`hybrid_search` with defaults bound: ``HybridSearcher(index).search(vector=v, text=t, k=10)``.

    Every default (mode, fusion, weights, candidates, rrf_k, normalise) may be overridden per query;
    ``weights`` may be ``"auto"`` (or ``None`` with an index that has a router, see :func:`hybrid_search`).
    """

    index: Any
    mode: str = "hybrid"
    fusion: str = "rrf"
    weights: Mapping[str, float] | str | None = None
    candidates: int = DEFAULT_CANDIDATES
    rrf_k: int = DEFAULT_RRF_K
    normalise: str = "minmax"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown search mode {self.mode!r}; expected one of {list(MODES)}")
        get_fusion(self.fusion)
        if self.weights == AUTO and router_of(self.index) is None:
            raise ConfigError(
                "weights 'auto' needs an index with a query router (`omnivec index fit-router`)"
            )
        if not isinstance(self.weights, str) and not (self.weights is None and router_of(self.index)):
            self.weights = resolve_weights(self.weights)
        if self.mode != "dense":
            _require_lexical(self.index, self.mode)

    def search(
        self,
        *,
        vector: np.ndarray | None = None,
        text: str | None = None,
        k: int = 10,
        **overrides: Any,
    ) -> list[SearchHit]:
        options = {
            "mode": self.mode, "fusion": self.fusion, "weights": self.weights, "candidates": self.candidates,
            "rrf_k": self.rrf_k, "normalise": self.normalise,
        }  # fmt: skip
        unknown = sorted(set(overrides) - set(options))
        if unknown:
            raise ConfigError(f"unknown search option(s) {unknown}; expected some of {sorted(options)}")
        return hybrid_search(self.index, vector=vector, text=text, k=k, **{**options, **overrides})
