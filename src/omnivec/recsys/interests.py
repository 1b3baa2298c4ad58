"""User interest mining: (history sequence → target item) pairs from behaviour logs (paper §3.3.5 (a), Fig. 7).

For each user, plays are read oldest first. A *target* is one of the user's latest eligible plays (the paper
takes the most recent; we take up to ``max_targets_per_user`` of the latest so small logs give enough pairs).
Its *history* is every play strictly before it, aggregated per item (the item's behaviour-label set is the
union over the user's plays of it; items ordered by their last play), without the target item and its
re-uploads (same ``dup_group``). Only items of ``splits`` (``train``) enter a pair, as query or target, and
only plays before ``cutoff_ts``. The world's ``logs/`` already end where the evaluation period starts
(``omnivec.world.tasks`` builds every task from the held-out days), so with the defaults no evaluation
target or held-out item leaks into a pair.

The four perspectives (our operationalisation of what the paper leaves UNCONFIRMED; positive behaviours and
the label Jaccard are defined in :mod:`omnivec.recsys.logs`):

1. ``content_single_peak``: history items and target with ≥ 3 positive behaviours; keep history items whose
   content similarity to the target passes the threshold (:mod:`omnivec.recsys.similarity`); latest L.
2. ``content_multi_peak``: any positive behaviour (≥ 1); keep history items whose behaviour-label Jaccard
   with the target's labels is > 0.5; latest L.
3. ``collab_single_peak``: ≥ 3 positive behaviours, label Jaccard with the target > 0.5 (behaviour
   consistency), and the item is in the target's collaborative cluster (one interest peak); latest L.
4. ``collab_multi_peak``: any positive behaviour; L items drawn so that each cluster's share of the sequence
   follows its share of the user's distinct history items (largest-remainder quotas, random items within a
   cluster, seeded); kept in time order.

L = ``seq_len`` (10, §4.1). A pair needs at least ``min_seq_len`` history items after filtering.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from omnivec.recsys.logs import Catalog, Plays, label_jaccard, load_catalog, load_plays, n_behaviours
from omnivec.utils.io import write_json, write_parquet

Perspective = Literal["content_single_peak", "content_multi_peak", "collab_single_peak", "collab_multi_peak"]
PERSPECTIVES: tuple[str, ...] = (
    "content_single_peak",
    "content_multi_peak",
    "collab_single_peak",
    "collab_multi_peak",
)
Passes = Callable[[np.ndarray, int], np.ndarray]


class InterestConfig(BaseModel):
    """Every threshold of interest mining; the paper's values where it gives them (§3.3.5, §4.1)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("seq2item", description="source name: sources/<name>.parquet + .json")
    seq_len: int = Field(10, ge=1, description="history items per pair (paper: 10)")
    min_seq_len: int = Field(3, ge=1, description="fewer history items after filtering → no pair")
    max_targets_per_user: int = Field(
        4, ge=1, description="latest eligible plays used as targets, per perspective"
    )
    perspectives: list[Perspective] = Field(default_factory=lambda: list(PERSPECTIVES))
    long_watch: float = Field(0.8, gt=0, le=1, description="watch_ratio counted as a long watch")
    single_peak_min_behaviours: int = Field(3, ge=1, le=4, description="paper: ≥ 3 positive behaviours")
    multi_peak_min_behaviours: int = Field(1, ge=1, le=4, description="paper: any positive behaviour")
    label_jaccard_threshold: float = Field(
        0.5, ge=0, lt=1, description="keep label Jaccard > this (paper 0.5)"
    )
    embedding_threshold: float = Field(0.5, description="content filter with embeddings: cosine ≥ this")
    token_jaccard_threshold: float = Field(
        0.1, ge=0, le=1, description="content filter without: Jaccard ≥ this"
    )
    token_max_df: float = Field(0.05, gt=0, le=1, description="drop tokens in more than this share of items")
    cluster_by: Literal["coconsumption", "author"] = "coconsumption"
    clusters: int = Field(16, ge=1, description="k of the co-consumption k-means")
    cluster_dim: int = Field(32, ge=1, description="SVD dimension of the co-consumption vectors")
    cluster_min_plays: int = Field(2, ge=1, description="items with fewer plays are unclustered (-1)")
    splits: list[str] = Field(default_factory=lambda: ["train"], description="item splits allowed in pairs")
    cutoff_ts: int | None = Field(None, description="use only plays with ts < this")
    seed: int = 0


@dataclass
class History:
    """A user's history before a target: distinct catalogue rows (oldest last play first) and label unions."""

    items: np.ndarray
    labels: np.ndarray


def user_history(
    items: np.ndarray,
    labels: np.ndarray,
    *,
    exclude: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> History:
    """Aggregate plays (oldest first) per item: label union, ordered by last play; drop ``exclude``/not allowed."""
    last: dict[int, int] = {}
    union: dict[int, int] = {}
    for pos, (i, lab) in enumerate(zip(items.tolist(), labels.tolist(), strict=True)):
        last[i] = pos
        union[i] = union.get(i, 0) | lab
    keep = sorted(last, key=last.__getitem__)
    if allowed is not None:
        keep = [i for i in keep if allowed[i]]
    if exclude is not None and len(exclude):
        bad = set(np.asarray(exclude).tolist())
        keep = [i for i in keep if i not in bad]
    return History(np.array(keep, dtype=np.int64), np.array([union[i] for i in keep], dtype=np.int64))


def _latest(hist: History, keep: np.ndarray, n: int) -> np.ndarray:
    return hist.items[np.flatnonzero(keep)][-n:]


def select_content_single_peak(hist: History, target: int, passes: Passes, cfg: InterestConfig) -> np.ndarray:
    """≥ ``single_peak_min_behaviours`` positives and content-similar to ``target``; latest ``seq_len``."""
    keep = n_behaviours(hist.labels) >= cfg.single_peak_min_behaviours
    if keep.any():
        keep[keep] = passes(hist.items[keep], target)
    return _latest(hist, keep, cfg.seq_len)


def select_content_multi_peak(hist: History, target_labels: int, cfg: InterestConfig) -> np.ndarray:
    """≥ ``multi_peak_min_behaviours`` positives and label Jaccard with the target > threshold."""
    keep = n_behaviours(hist.labels) >= cfg.multi_peak_min_behaviours
    keep &= label_jaccard(hist.labels, target_labels) > cfg.label_jaccard_threshold
    return _latest(hist, keep, cfg.seq_len)


def select_collab_single_peak(
    hist: History, target: int, target_labels: int, clusters: np.ndarray, cfg: InterestConfig
) -> np.ndarray:
    """≥ 3 positives, label Jaccard > threshold, same collaborative cluster as the target (not -1)."""
    keep = n_behaviours(hist.labels) >= cfg.single_peak_min_behaviours
    keep &= label_jaccard(hist.labels, target_labels) > cfg.label_jaccard_threshold
    keep &= (clusters[hist.items] == clusters[target]) & (clusters[target] >= 0)
    return _latest(hist, keep, cfg.seq_len)


def proportional_quotas(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over buckets in proportion to ``counts`` (largest remainder), never above a count."""
    counts = np.asarray(counts, dtype=np.int64)
    total = min(int(total), int(counts.sum()))
    quota = np.zeros(len(counts), dtype=np.int64)
    while quota.sum() < total:
        room = counts - quota
        share = np.where(room > 0, counts, 0).astype(np.float64)
        need = total - quota.sum()
        exact = need * share / share.sum()
        add = np.minimum(np.floor(exact).astype(np.int64), room)
        left = need - add.sum()
        if left > 0:  # largest remainders first (ties: the bigger bucket, then the lower index)
            rem = np.where(room - add > 0, exact - np.floor(exact), -1.0)
            order = np.lexsort((np.arange(len(counts)), -counts, -rem))
            for b in order[:left]:
                if rem[b] >= 0:
                    add[b] += 1
        quota += add
    return quota


def select_collab_multi_peak(
    hist: History, clusters: np.ndarray, cfg: InterestConfig, rng: np.random.Generator
) -> np.ndarray:
    """``seq_len`` items whose cluster shares follow the user's distinct-history cluster distribution."""
    keep = n_behaviours(hist.labels) >= cfg.multi_peak_min_behaviours
    pos = np.flatnonzero(keep)
    if len(pos) <= cfg.seq_len:
        return hist.items[pos]
    cl = clusters[hist.items[pos]]
    names, inverse = np.unique(cl, return_inverse=True)
    quota = proportional_quotas(np.bincount(inverse, minlength=len(names)), cfg.seq_len)
    chosen = []
    for b in range(len(names)):
        members = pos[inverse == b]
        chosen.extend(rng.choice(members, size=int(quota[b]), replace=False).tolist())
    return hist.items[np.sort(np.array(chosen, dtype=np.int64))]


def mine_pairs(
    plays: Plays,
    catalog: Catalog,
    cfg: InterestConfig,
    *,
    passes: Passes,
    clusters: np.ndarray,
) -> list[dict[str, Any]]:
    """All (query_items, target_item, perspective, user_id) rows of every user, in a deterministic order."""
    allowed = np.isin(catalog.split, cfg.splits)
    order = np.argsort(catalog.dup_group, kind="stable")
    bounds = np.flatnonzero(np.diff(catalog.dup_group[order])) + 1
    members = {int(catalog.dup_group[g[0]]): g for g in np.split(order, bounds) if len(g)}
    rows: list[dict[str, Any]] = []
    for persp in cfg.perspectives:
        rng = np.random.default_rng([cfg.seed, PERSPECTIVES.index(persp)])
        single = persp.endswith("single_peak")
        min_b = cfg.single_peak_min_behaviours if single else cfg.multi_peak_min_behaviours
        for u, s, e in plays.user_slices():
            items, labels = plays.item[s:e], plays.labels[s:e]
            ok = allowed[items] & (n_behaviours(labels) >= min_b)
            done: set[int] = set()
            for p in np.flatnonzero(ok)[::-1]:
                target, t_lab = int(items[p]), int(labels[p])
                if target in done:
                    continue
                same = members[int(catalog.dup_group[target])]
                hist = user_history(items[:p], labels[:p], exclude=same, allowed=allowed)
                if persp == "content_single_peak":
                    seq = select_content_single_peak(hist, target, passes, cfg)
                elif persp == "content_multi_peak":
                    seq = select_content_multi_peak(hist, t_lab, cfg)
                elif persp == "collab_single_peak":
                    seq = select_collab_single_peak(hist, target, t_lab, clusters, cfg)
                else:
                    seq = select_collab_multi_peak(hist, clusters, cfg, rng)
                if len(seq) < cfg.min_seq_len:
                    continue
                done.add(target)
                rows.append({
                    "query_items": [catalog.ids[i] for i in seq],
                    "target_item": catalog.ids[target],
                    "perspective": persp,
                    "user_id": plays.user_ids[u],
                    "target_ts": int(plays.ts[s + p]),
                })  # fmt: skip
                if len(done) >= cfg.max_targets_per_user:
                    break
    return rows


def source_config(cfg: InterestConfig, n_pairs: int) -> dict[str, Any]:
    """The source's JSON: :class:`~omnivec.data.schema.SourceConfig` fields, with ``query = "items"``."""
    return {
        "name": cfg.name,
        "task": "i2i",
        "file": f"{cfg.name}.parquet",
        "query": "items",
        "target": "item",
        "patterns": [["omni", "omni"]],
        "graded": False,
        "has_negatives": False,
        "n_pairs": n_pairs,
        "description": "user interest mining (SAIL §3.3.5): history sequence (oldest first) -> target item; "
        f"perspectives {', '.join(cfg.perspectives)}; L={cfg.seq_len}",
    }


def content_filter_items(plays: Plays, catalog: Catalog, cfg: InterestConfig) -> np.ndarray:
    """Catalogue rows the content filter can ever compare (sorted): items of ``cfg.splits`` that some user's
    plays give ``single_peak_min_behaviours`` positives (label union over that user's plays, a superset of
    every history-so-far union and of every target play). Empty without ``content_single_peak``. Embedding
    only these items gives the same pairs as embedding the whole catalogue."""
    if "content_single_peak" not in cfg.perspectives or plays.n == 0:
        return np.zeros(0, dtype=np.int64)
    pair = plays.user.astype(np.int64) * catalog.n + plays.item
    keys, inverse = np.unique(pair, return_inverse=True)
    union = np.zeros(len(keys), dtype=np.int64)
    np.bitwise_or.at(union, inverse, plays.labels.astype(np.int64))
    rows = np.unique(keys[n_behaviours(union) >= cfg.single_peak_min_behaviours] % catalog.n)
    return rows[np.isin(catalog.split[rows], cfg.splits)]


def content_filter_item_ids(world_dir: str | Path, config: InterestConfig | None = None) -> list[str]:
    """Ids of :func:`content_filter_items` for ``world_dir``'s logs: the items to embed for the content filter."""
    cfg = config or InterestConfig()
    catalog = load_catalog(world_dir)
    plays = load_plays(world_dir, catalog, long_watch=cfg.long_watch, cutoff_ts=cfg.cutoff_ts)
    return [catalog.ids[i] for i in content_filter_items(plays, catalog, cfg).tolist()]


def build_seq2item_source(
    world_dir: str | Path,
    out_dir: str | Path | None = None,
    config: InterestConfig | None = None,
    *,
    item_ids: list[str] | None = None,
    item_emb: np.ndarray | None = None,
) -> dict[str, Any]:
    """Mine the four perspectives from ``world_dir``'s logs; write ``<out_dir>/sources/<name>.{parquet,json}``.

    ``item_ids`` + ``item_emb`` (rows aligned) switch the content filter from token Jaccard to embedding
    cosine. ``out_dir`` defaults to ``world_dir``. Both files are written atomically. Returns statistics.
    """
    from omnivec.recsys.similarity import (
        EmbeddingSimilarity,
        TokenSimilarity,
        author_clusters,
        coconsumption_clusters,
    )

    cfg = config or InterestConfig()
    catalog = load_catalog(world_dir)
    plays = load_plays(world_dir, catalog, long_watch=cfg.long_watch, cutoff_ts=cfg.cutoff_ts)
    sim: EmbeddingSimilarity | TokenSimilarity
    if item_emb is not None:
        if item_ids is None:
            raise ValueError("item_emb needs item_ids (one id per embedding row)")
        sim = EmbeddingSimilarity(catalog, item_ids, item_emb, threshold=cfg.embedding_threshold)
    else:
        sim = TokenSimilarity(catalog, max_df=cfg.token_max_df, threshold=cfg.token_jaccard_threshold)
    if cfg.cluster_by == "author":
        clusters = author_clusters(catalog)
    else:
        train_plays = np.isin(catalog.split[plays.item], cfg.splits)
        sub = Plays(plays.user_ids, plays.user[train_plays], plays.item[train_plays], plays.ts[train_plays],
                    plays.labels[train_plays])  # fmt: skip
        clusters = coconsumption_clusters(
            sub,
            catalog.n,
            k=cfg.clusters,
            dim=cfg.cluster_dim,
            min_plays=cfg.cluster_min_plays,
            seed=cfg.seed,
        )
    rows = mine_pairs(plays, catalog, cfg, passes=sim.passes, clusters=clusters)
    table = pa.table({
        "query_items": pa.array([r["query_items"] for r in rows], pa.list_(pa.string())),
        "target_item": pa.array([r["target_item"] for r in rows], pa.string()),
        "perspective": pa.array([r["perspective"] for r in rows], pa.string()),
        "user_id": pa.array([r["user_id"] for r in rows], pa.string()),
        "target_ts": pa.array([r["target_ts"] for r in rows], pa.int64()),
    })  # fmt: skip
    folder = Path(out_dir if out_dir is not None else world_dir) / "sources"
    write_parquet(folder / f"{cfg.name}.parquet", table)
    write_json(folder / f"{cfg.name}.json", source_config(cfg, len(rows)))
    lens = [len(r["query_items"]) for r in rows]
    return {
        "pairs": len(rows),
        "per_perspective": {p: sum(r["perspective"] == p for r in rows) for p in cfg.perspectives},
        "users": len({r["user_id"] for r in rows}),
        "users_in_logs": len(plays.user_ids),
        "plays": plays.n,
        "skipped_plays_unknown_item": plays.unknown_items,
        "mean_seq_len": float(np.mean(lens)) if lens else 0.0,
        "content_similarity": sim.kind,
        "cluster_by": cfg.cluster_by,
        "n_clusters": len(set(clusters[clusters >= 0].tolist())),
        "parquet": str(folder / f"{cfg.name}.parquet"),
        "config": str(folder / f"{cfg.name}.json"),
    }
