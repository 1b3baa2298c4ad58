"""Query routing for hybrid search: a per-query split of the fusion weight between dense and lexical.

No fixed weighting serves both kinds of query a catalogue gets. A name, title or code ("kx-4821",
"velmora tides") is answered by BM25 almost perfectly and missed by a dense model that never saw it; a
descriptive query ("relaxing piano at night") or a query item is answered by the dense side, and BM25's
word matches only push good dense candidates out of the list. Equal-weight RRF sits between the two and
loses to the better side on both.

:class:`QueryRouter` looks at cheap signals of one query (its tokens' document frequencies in the lexical
index, how BM25 and dense scores fall off, how much the two candidate lists agree, whether the query is an
item or a typed text; :data:`ROUTER_FEATURES`) and a logistic regression over them says how likely the query
is better served by the lexical side. The decision is *hard*: above ``threshold`` the query is fused with
lexical share ``high_share`` (0.99: BM25's order, dense only breaking near-ties and filling the tail),
otherwise with ``low_share`` (0.1: dense order, BM25 only nudging). Both are reciprocal-rank fusion with
weights ``{"dense": 1 - share, "lexical": share}``; a soft share would land on RRF's cliff around 0.5, where
both kinds of query lose.

The router is learned (:func:`fit_router`) from labelled queries a platform has anyway, with no entity
labels needed: its search logs (typed query → clicked items), its item→item pairs, and *known-item*
queries mined from the catalogue's own text fields (:func:`known_item_queries`: a creator name, a tag or a
short title span that matches at most a handful of items, the way users look up a name). Each example is
searched both ways, and its label says which share serves it better (mean of Recall@10, Recall@50 and
nDCG@10 of the fused list). ``omnivec index fit-router`` does this for an index and saves ``router.json``
beside it; ``hybrid_search(..., weights="auto")`` then routes every query.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.errors import ConfigError, DataFormatError
from omnivec.utils.io import read_json, write_json

__all__ = [
    "NAME_FIELDS",
    "ROUTER_FEATURES",
    "ROUTER_FILE",
    "NameMatcher",
    "QueryRouter",
    "RouterExample",
    "catalogue_names",
    "fit_router",
    "known_item_queries",
    "query_features",
]

#: File of a fitted router inside an index folder.
ROUTER_FILE = "router.json"
ROUTER_FORMAT_VERSION = 1

#: The signals a router reads, in this order (:func:`query_features`). IDFs are BM25's (Lucene) divided by
#: ``log(1 + N)``, so they lie in [0, 1] whatever the corpus size.
ROUTER_FEATURES: tuple[str, ...] = (
    "log_tokens",  # log(1 + number of query tokens the lexical index knows)
    "max_idf",  # the rarest known token's normalised IDF
    "mean_idf",
    "min_idf",
    "lexical_coverage",  # BM25 top-1 score / (log(1 + N) * sum of the tokens' normalised IDF)
    "lexical_drop",  # (BM25 top-1 - BM25 10th) / top-1: a clear lexical winner
    "dense_top",  # cosine of the dense top-1
    "dense_drop",  # dense top-1 - dense 10th
    "overlap_at_10",  # shared ids of the two top-10 lists / 10
    "item_query",  # 1 for an item→item query (the query's text is an item's fields), 0 for typed text
    "rare_fraction",  # share of known tokens found in at most `rare_df` documents
    "log_min_df",  # log(1 + document frequency of the rarest token)
    "has_code",  # a token with a digit or a joined code ("x7-200")
    "name_match",  # a typed query holding a whole catalogue name (a creator handle) as a token span
)

#: Item fields whose whole values are names (creator handles, brand or shop names): a typed query holding
#: one of them, word for word, is looking that name up (:class:`NameMatcher`).
NAME_FIELDS: tuple[str, ...] = ("nickname",)


class NameMatcher:
    """The catalogue's names as token sequences of the lexical index's tokenizer; :meth:`found` says whether
    a query's tokens hold one of them as a contiguous span ("latest from ben the chef" holds "ben the chef",
    whose tokens are ``ben chef``)."""

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names = sorted({" ".join(n.split()) for n in names if n and n.strip()})
        self._spans = {tuple(n.split()) for n in self.names}
        self._widths = sorted({len(s) for s in self._spans})

    def __len__(self) -> int:
        return len(self.names)

    def found(self, tokens: Sequence[str]) -> bool:
        tokens = tuple(tokens)
        return any(tokens[i : i + w] in self._spans for w in self._widths for i in range(len(tokens) - w + 1))


def catalogue_names(
    rows: Mapping[str, Mapping[str, Any]] | Sequence[tuple[str, Mapping[str, Any]]],
    lexical: Any,
    *,
    fields: Sequence[str] = NAME_FIELDS,
    min_chars: int = 3,
) -> list[str]:
    """The distinct values of ``fields`` over the items ``rows`` (id → fields), each as the space-joined
    tokens ``lexical`` indexes it by; values with fewer than ``min_chars`` token characters are left out (a
    two-letter handle says little about a query that contains it)."""
    items = rows.values() if isinstance(rows, Mapping) else (row for _, row in rows)
    out: set[str] = set()
    for row in items:
        for name in fields:
            value = row.get(name)
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                if v is None or not str(v).strip():
                    continue
                tokens = lexical.tokens(str(v))
                if sum(len(t) for t in tokens) >= min_chars:
                    out.add(" ".join(tokens))
    return sorted(out)


def _finite(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"router {name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ConfigError(f"router {name} must be finite, got {value!r}")
    return v


def _share(name: str, value: Any) -> float:
    v = _finite(name, value)
    if not 0.0 <= v <= 1.0:
        raise ConfigError(f"router {name} must be between 0 and 1, got {value!r}")
    return v


def query_features(
    lexical: Any,
    text: str,
    dense: Sequence[tuple[str, float]],
    lexical_hits: Sequence[tuple[str, float]],
    *,
    item_query: bool,
    rare_df: int = 20,
    names: NameMatcher | None = None,
) -> np.ndarray:
    """The :data:`ROUTER_FEATURES` of one query: ``text`` is what BM25 was asked (a typed query, or the
    query item's text fields), ``dense`` and ``lexical_hits`` the two ``(id, score)`` lists, best first.
    ``names`` are the catalogue's names; without them (or for an item query, whose fields always hold its
    own creator's name) ``name_match`` is 0."""
    n = max(len(lexical), 1)
    norm = math.log1p(n)
    tokens = lexical.tokens(text)
    pairs = [(t, f) for t, f in zip(tokens, lexical.doc_freq(tokens), strict=True) if f > 0]
    known = [t for t, _ in pairs]
    freq = [f for _, f in pairs]
    idf = [math.log(1.0 + (n - f + 0.5) / (f + 0.5)) / norm for f in freq] or [0.0]
    top = float(lexical_hits[0][1]) if lexical_hits else 0.0
    tenth = float(lexical_hits[min(9, len(lexical_hits) - 1)][1]) if lexical_hits else 0.0
    d_top = float(dense[0][1]) if dense else 0.0
    d_tenth = float(dense[min(9, len(dense) - 1)][1]) if dense else 0.0
    shared = {i for i, _ in lexical_hits[:10]} & {i for i, _ in dense[:10]}
    return np.array(
        [
            math.log1p(len(freq)),
            max(idf),
            float(np.mean(idf)),
            min(idf),
            top / (norm * sum(idf)) if sum(idf) > 0 else 0.0,
            (top - tenth) / top if top > 0 else 0.0,
            d_top,
            d_top - d_tenth,
            len(shared) / 10.0,
            1.0 if item_query else 0.0,
            float(np.mean([f <= rare_df for f in freq])) if freq else 0.0,
            math.log1p(min(freq)) if freq else math.log1p(n),
            1.0 if any(any(c.isdigit() for c in t) or "-" in t for t in known) else 0.0,
            1.0 if names is not None and not item_query and names.found(tokens) else 0.0,
        ],
        dtype=np.float64,
    )


@dataclass
class QueryRouter:
    """A fitted router: standardised features → logistic regression → hard choice of the lexical share."""

    coef: list[float]
    intercept: float
    mean: list[float]
    scale: list[float]
    features: tuple[str, ...] = ROUTER_FEATURES
    threshold: float = 0.5
    low_share: float = 0.1
    high_share: float = 0.99
    rare_df: int = 20
    names: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = tuple(self.features)
        unknown = [f for f in self.features if f not in ROUTER_FEATURES]
        if unknown:
            raise ConfigError(
                f"router: unknown feature(s) {unknown}; this omnivec knows {list(ROUTER_FEATURES)}"
            )
        n = len(self.features)
        for name in ("coef", "mean", "scale"):
            values = [_finite(name, v) for v in getattr(self, name)]
            if len(values) != n:
                raise ConfigError(f"router {name}: {len(values)} values for {n} features")
            setattr(self, name, values)
        if any(s <= 0 for s in self.scale):
            raise ConfigError("router scale values must be positive")
        self.intercept = _finite("intercept", self.intercept)
        self.threshold = _share("threshold", self.threshold)
        self.low_share = _share("low_share", self.low_share)
        self.high_share = _share("high_share", self.high_share)
        if self.low_share > self.high_share:
            raise ConfigError(f"router low_share ({self.low_share}) is above high_share ({self.high_share})")
        if int(self.rare_df) < 1:
            raise ConfigError(f"router rare_df must be at least 1, got {self.rare_df}")
        self.rare_df = int(self.rare_df)
        if not isinstance(self.names, (list, tuple)) or not all(isinstance(n, str) for n in self.names):
            raise ConfigError("router names must be a list of strings")
        self._matcher = NameMatcher(self.names)
        self.names = self._matcher.names

    # ------------------------------------------------------------- routing
    def _select(self, x: np.ndarray) -> np.ndarray:
        if len(self.features) == len(ROUTER_FEATURES):
            return x
        return x[[ROUTER_FEATURES.index(f) for f in self.features]]

    def probability(self, x: np.ndarray) -> float:
        """P(the lexical side serves this query better) for a :func:`query_features` vector."""
        z = (self._select(np.asarray(x, dtype=np.float64)) - np.asarray(self.mean)) / np.asarray(self.scale)
        logit = float(z @ np.asarray(self.coef) + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))

    def share(self, x: np.ndarray) -> float:
        """The lexical share of the fusion weight for this query: ``high_share`` or ``low_share``."""
        return self.high_share if self.probability(x) > self.threshold else self.low_share

    def weights(self, x: np.ndarray) -> dict[str, float]:
        """``{"dense": 1 - share, "lexical": share}`` for this query."""
        s = self.share(x)
        return {"dense": 1.0 - s, "lexical": s}

    def route(
        self,
        lexical: Any,
        text: str,
        dense: Sequence[tuple[str, float]],
        lexical_hits: Sequence[tuple[str, float]],
        *,
        item_query: bool = False,
    ) -> dict[str, float]:
        """:meth:`weights` of one query from its two candidate lists (see :func:`query_features`)."""
        return self.weights(
            query_features(
                lexical,
                text,
                dense,
                lexical_hits,
                item_query=item_query,
                rare_df=self.rare_df,
                names=self._matcher,
            )
        )

    # ---------------------------------------------------------- save/load
    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"] = list(self.features)
        return {"format_version": ROUTER_FORMAT_VERSION, **out}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueryRouter:
        data = dict(data)
        version = int(data.pop("format_version", 0))
        if version > ROUTER_FORMAT_VERSION:
            raise DataFormatError(f"router format_version {version} is newer than this omnivec reads")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataFormatError(f"router: unknown key(s) {unknown}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise DataFormatError(f"router: {exc}") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the router as JSON (atomically); a folder gets ``router.json`` inside it."""
        out = Path(path)
        if out.is_dir():
            out = out / ROUTER_FILE
        write_json(out, self.to_dict())
        return out

    @classmethod
    def load(cls, path: str | os.PathLike) -> QueryRouter:
        """Read a router written by :meth:`save` (a file, or a folder holding ``router.json``)."""
        p = Path(path)
        if p.is_dir():
            p = p / ROUTER_FILE
        if not p.is_file():
            raise DataFormatError(f"{p}: no router file (fit one with `omnivec index fit-router`)")
        return cls.from_dict(read_json(p, DataFormatError, "unreadable router"))


# --------------------------------------------------------------------------- fitting
@dataclass
class RouterExample:
    """One labelled query searched both ways: ``text`` (what BM25 got), its two lists and the relevant ids."""

    text: str
    item_query: bool
    dense: list[tuple[str, float]]
    lexical: list[tuple[str, float]]
    relevant: set[str]
    source: str = ""


def _utility(fused: list[str], relevant: set[str]) -> float:
    from omnivec.evaluation.metrics import ndcg_at_k, recall_at_k

    return (
        recall_at_k(fused, relevant, 10) + recall_at_k(fused, relevant, 50) + ndcg_at_k(fused, relevant, 10)
    ) / 3


def _fused_ids(example: RouterExample, share: float, depth: int) -> list[str]:
    from omnivec.index.hybrid import rrf_fuse

    return [
        i
        for i, _ in rrf_fuse(
            [[i for i, _ in example.dense], [i for i, _ in example.lexical]],
            weights=[1.0 - share, share],
            limit=depth,
        )
    ]


def fit_router(
    examples: Sequence[RouterExample],
    lexical: Any,
    *,
    low_share: float = 0.1,
    high_share: float = 0.99,
    threshold: float | None = None,
    rare_df: int = 20,
    c: float = 0.3,
    depth: int = 100,
    names: Sequence[str] = (),
    tolerance: float = 0.002,
) -> QueryRouter:
    """Learn a :class:`QueryRouter` from labelled queries (:class:`RouterExample`).

    Each example is fused at ``low_share`` and at ``high_share``; its label is whether the high (lexical)
    share gives the higher mean of Recall@10, Recall@50 and nDCG@10 (ties carry no signal and are skipped).
    A class-balanced logistic regression (``C = c``) over the standardised :func:`query_features` then
    predicts the label. ``threshold`` ``None`` picks a probability cut (0.05 … 0.95) by the routed utility,
    each example's as a fraction of its better side's, averaged per ``source`` and then over sources, so
    each kind of query counts the same whatever its number of examples: the *highest* cut within
    ``tolerance`` of the best utility. Routing a descriptive query to BM25 costs more than its labels show
    (a search log's clicked items are a few of the items that answer it, and BM25 misses the rest), so among
    cuts that the labels cannot tell apart the one sending fewer queries to BM25 is kept. On the seed-1
    validation world (generator 1.1) the best cut alone (0.55) lost 1.3 Recall@50 points to dense on search
    queries; the 0.002 tolerance picks 0.60, which equals BM25 on entity queries and is within 0.2 of dense
    on search queries (0.005 picks 0.65, which loses 0.8 Recall@10 on entity queries).
    ``stats["cut_utility"]`` lists every cut's utility. When every informative query prefers one side the
    router always routes there (``stats["note"]`` says so); with no informative query at all it raises
    :class:`ConfigError`. ``names`` (:func:`catalogue_names`) go into the router for its ``name_match``
    feature.
    """
    from sklearn.linear_model import LogisticRegression

    low_share, high_share = _share("low_share", low_share), _share("high_share", high_share)
    if not (isinstance(tolerance, int | float) and 0.0 <= tolerance < 1.0):
        raise ConfigError(f"fit_router: tolerance must be in [0, 1), got {tolerance!r}")
    matcher = NameMatcher(names)
    rows, labels, sources, utilities = [], [], [], []
    for ex in examples:
        if not ex.relevant:
            continue
        u_low = _utility(_fused_ids(ex, low_share, depth), ex.relevant)
        u_high = _utility(_fused_ids(ex, high_share, depth), ex.relevant)
        gain = u_high - u_low
        if gain == 0:
            continue
        utilities.append((u_low / max(u_low, u_high), u_high / max(u_low, u_high)))
        rows.append(
            query_features(
                lexical,
                ex.text,
                ex.dense,
                ex.lexical,
                item_query=ex.item_query,
                rare_df=rare_df,
                names=matcher,
            )
        )
        labels.append(int(gain > 0))
        sources.append(ex.source)
    y = np.asarray(labels, dtype=np.int64)
    if not labels:
        raise ConfigError(
            f"fit_router: none of the {len(examples)} queries tells the two sides apart (each found its "
            "relevant items equally well, or not at all); give more or other labelled queries"
        )
    x = np.vstack(rows)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale <= 1e-9] = 1.0
    note = None
    if len(set(labels)) == 1:  # one side wins every query: a constant router, said so in its stats
        side = "lexical" if labels[0] else "dense"
        note = f"every informative query preferred the {side} side: the router always routes there"
        coef, intercept = np.zeros(x.shape[1]), 10.0 if labels[0] else -10.0
    else:
        model = LogisticRegression(C=float(c), max_iter=2000, class_weight="balanced")
        model.fit((x - mean) / scale, y)
        coef, intercept = model.coef_[0], float(model.intercept_[0])
    probs = 1.0 / (1.0 + np.exp(-np.clip((x - mean) / scale @ coef + intercept, -50, 50)))
    u = np.asarray(utilities)
    groups = [np.array([s == name for s in sources]) for name in sorted(set(sources))]

    def balanced_utility(cut: float) -> float:
        chosen = np.where(probs > cut, u[:, 1], u[:, 0])
        return float(np.mean([chosen[g].mean() for g in groups]))

    cuts = np.round(np.linspace(0.05, 0.95, 19), 2)
    scores = {float(t): balanced_utility(float(t)) for t in cuts}
    best = max(scores.values())
    best_cut = max(t for t, v in scores.items() if v >= best - tolerance)
    router = QueryRouter(
        coef=[float(v) for v in coef], intercept=float(intercept), mean=mean.tolist(),
        scale=scale.tolist(), threshold=best_cut if threshold is None else threshold, low_share=low_share,
        high_share=high_share, rare_df=rare_df, names=matcher.names,
    )  # fmt: skip
    routed = probs > router.threshold
    per_source = {}
    for name in sorted(set(sources)):
        m = np.array([s == name for s in sources])
        per_source[name or "-"] = {
            "examples": int(m.sum()),
            "prefer_lexical": round(float(y[m].mean()), 4),
            "routed_lexical": round(float(routed[m].mean()), 4),
        }
    router.stats = {
        "examples": len(examples),
        "informative": len(labels),
        "train_accuracy": round(float((routed == (y == 1)).mean()), 4),
        "balanced_utility": round(balanced_utility(router.threshold), 4),
        "balanced_utility_dense": round(float(np.mean([u[g, 0].mean() for g in groups])), 4),
        "balanced_utility_lexical": round(float(np.mean([u[g, 1].mean() for g in groups])), 4),
        "by_source": per_source,
        "c": float(c),
        "tolerance": float(tolerance),
        "cut_utility": {f"{t:.2f}": round(v, 4) for t, v in scores.items()},
    }
    if note:
        router.stats["note"] = note
    return router


# ------------------------------------------------------------------ known-item queries
def known_item_queries(
    texts: Mapping[str, Mapping[str, Any]] | Sequence[tuple[str, Mapping[str, Any]]],
    n: int,
    *,
    seed: int = 0,
    fields: Sequence[str] = ("title", "nickname", "tags"),
    max_span: int = 3,
    max_matches: int = 10,
    max_tries: int | None = None,
) -> list[tuple[str, set[str]]]:
    """``n`` known-item queries mined from items' own text fields: ``(query, ids of every item containing
    it)``.

    A query is a whole ``nickname``, one ``tags`` value (comma-separated or a list) or a span of 1 to
    ``max_span`` words of a ``title``, drawn from a seeded random item; it is kept when it matches (as whole
    words, case-insensitively, anywhere in an item's text fields) between 1 and ``max_matches`` items, as a
    name does (a span whose rarest word is in more than ``10 * max_matches`` items is skipped without
    checking). ``texts`` maps item id → item fields. Fewer than ``n`` come back when the catalogue has too
    few such spans within ``max_tries`` (default ``50 * n``) draws.
    """
    from omnivec.index.lexical import item_text, tokenize

    items = list(texts.items()) if isinstance(texts, Mapping) else list(texts)
    if not items or n < 1:
        return []
    lowered = [(item_id, item_text(row).lower()) for item_id, row in items]
    postings: dict[str, list[int]] = {}
    for row, (_, text) in enumerate(lowered):
        for token in set(tokenize(text)):
            postings.setdefault(token, []).append(row)
    rng = np.random.default_rng(seed)
    out: list[tuple[str, set[str]]] = []
    seen: set[str] = set()
    tries = max_tries if max_tries is not None else 50 * n
    for _ in range(tries):
        if len(out) >= n:
            break
        _, row = items[int(rng.integers(len(items)))]
        name = fields[int(rng.integers(len(fields)))]
        value = row.get(name)
        if not value:
            continue
        if name == "tags":
            values = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split(",")
            values = [v.strip() for v in values if v and v.strip()]
            if not values:
                continue
            query = values[int(rng.integers(len(values)))]
        elif name == "title":
            words = [w for w in re.split(r"[\s|]+", str(value)) if w]
            if not words:
                continue
            width = int(rng.integers(1, max_span + 1))
            start = int(rng.integers(max(1, len(words) - width + 1)))
            query = " ".join(words[start : start + width])
        else:
            query = str(value).strip()
        tokens = tokenize(query)
        if not tokens or query.lower() in seen:
            continue
        rarest = min((postings.get(t, []) for t in tokens), key=len)
        if not rarest or len(rarest) > 10 * max_matches:
            continue
        pattern = re.compile(r"(?<!\w)" + re.escape(query.lower()) + r"(?!\w)")
        matches = {lowered[r][0] for r in rarest if pattern.search(lowered[r][1])}
        if 1 <= len(matches) <= max_matches:
            seen.add(query.lower())
            out.append((query, matches))
    return out
