from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from omnivec.data.schema import SourceConfig
from omnivec.recsys.interests import (
    History,
    InterestConfig,
    build_seq2item_source,
    proportional_quotas,
    select_collab_multi_peak,
    select_collab_single_peak,
    select_content_multi_peak,
    select_content_single_peak,
    user_history,
)
from omnivec.recsys.logs import CLICK, FINISH, LIKE, LONG_WATCH, behaviour_labels, label_jaccard, n_behaviours

ALL = CLICK | LIKE | FINISH | LONG_WATCH


def always(items: np.ndarray, target: int) -> np.ndarray:
    return np.ones(len(items), dtype=bool)


def test_behaviour_labels_and_counts() -> None:
    lab = behaviour_labels([False, True, False, True], [False, False, True, True], [0.1, 0.5, 1.0, 0.85])
    assert lab.tolist() == [CLICK, CLICK | LIKE, CLICK | FINISH | LONG_WATCH, ALL]
    assert n_behaviours(lab).tolist() == [1, 2, 3, 4]
    # watch_ratio exactly at the threshold is a long watch
    assert behaviour_labels([False], [False], [0.8])[0] == CLICK | LONG_WATCH


def test_two_behaviours_excluded_from_single_peak_included_in_multi_peak() -> None:
    cfg = InterestConfig(seq_len=10)
    hist = History(np.array([0, 1, 2]), np.array([CLICK | LIKE | FINISH, CLICK | LIKE, ALL]))
    clusters = np.zeros(4, dtype=np.int64)
    single = select_content_single_peak(hist, 3, always, cfg)
    assert single.tolist() == [0, 2]  # item 1 has 2 positive behaviours
    assert select_collab_single_peak(hist, 3, CLICK | LIKE | FINISH, clusters, cfg).tolist() == [0, 2]
    multi = select_content_multi_peak(hist, CLICK | LIKE, cfg)
    assert 1 in multi.tolist()
    assert 1 in select_collab_multi_peak(hist, clusters, cfg, np.random.default_rng(0)).tolist()


def test_label_jaccard_boundary_is_strict() -> None:
    target = CLICK | LIKE
    assert label_jaccard(CLICK, target) == pytest.approx(0.5)
    assert label_jaccard(CLICK | LIKE | FINISH, target) == pytest.approx(2 / 3)
    assert label_jaccard(CLICK | LONG_WATCH, target) == pytest.approx(1 / 3)
    assert label_jaccard(0, 0) == 0.0
    hist = History(
        np.array([0, 1, 2, 3]), np.array([CLICK, CLICK | LIKE | FINISH, CLICK | LONG_WATCH, CLICK | LIKE])
    )
    got = select_content_multi_peak(hist, target, InterestConfig())
    assert got.tolist() == [1, 3]  # exactly 0.5 is not > 0.5
    # lowering the threshold below 0.5 admits the boundary item
    assert select_content_multi_peak(hist, target, InterestConfig(label_jaccard_threshold=0.49)).tolist() == [
        0,
        1,
        3,
    ]


def test_content_single_peak_uses_content_filter_and_keeps_latest() -> None:
    cfg = InterestConfig(seq_len=2)
    hist = History(np.arange(5), np.full(5, ALL))

    def odd(items: np.ndarray, target: int) -> np.ndarray:
        return items % 2 == 1

    assert select_content_single_peak(hist, 9, odd, cfg).tolist() == [1, 3]
    assert select_content_single_peak(hist, 9, always, cfg).tolist() == [3, 4]  # latest 2, oldest first


def test_collab_single_peak_keeps_target_cluster_only() -> None:
    cfg = InterestConfig()
    clusters = np.array([0, 1, 0, -1, 0, -1])
    hist = History(np.array([0, 1, 2, 3]), np.full(4, ALL))
    assert select_collab_single_peak(hist, 4, ALL, clusters, cfg).tolist() == [0, 2]
    assert select_collab_single_peak(hist, 5, ALL, clusters, cfg).tolist() == []  # unclustered target


def test_proportional_quotas() -> None:
    assert proportional_quotas(np.array([30, 10, 20]), 10).tolist() == [5, 2, 3]
    assert proportional_quotas(np.array([1, 1]), 5).tolist() == [1, 1]  # never above a count
    assert proportional_quotas(np.array([7, 0, 3]), 10).tolist() == [7, 0, 3]
    rng = np.random.default_rng(0)
    for _ in range(200):
        counts = rng.integers(0, 40, 6)
        total = int(rng.integers(1, 15))
        q = proportional_quotas(counts, total)
        assert q.sum() == min(total, counts.sum())
        assert (q <= counts).all()
        if total <= counts.sum():
            assert np.abs(q - total * counts / counts.sum()).max() < 1.0 + 1e-9


def test_collab_multi_peak_follows_cluster_distribution() -> None:
    cfg = InterestConfig(seq_len=10)
    sizes = {0: 30, 1: 10, 2: 20}
    cl = np.concatenate([np.full(n, c) for c, n in sizes.items()])
    rng = np.random.default_rng(1)
    cl = cl[rng.permutation(len(cl))]
    hist = History(np.arange(len(cl)), np.full(len(cl), CLICK))
    dist = np.array([sizes[c] for c in range(3)]) / len(cl)
    shares = []
    for seed in range(50):
        got = select_collab_multi_peak(hist, cl, cfg, np.random.default_rng(seed))
        assert len(got) == 10 and len(set(got.tolist())) == 10
        assert np.all(np.diff(got) > 0)  # kept in time order
        shares.append(np.bincount(cl[got], minlength=3) / 10)
    assert np.abs(np.mean(shares, axis=0) - dist).max() < 0.05
    assert np.abs(np.array(shares) - dist).max() <= 0.1 + 1e-9  # within one item every draw
    # different draws pick different items within the clusters
    a = select_collab_multi_peak(hist, cl, cfg, np.random.default_rng(0))
    b = select_collab_multi_peak(hist, cl, cfg, np.random.default_rng(1))
    assert a.tolist() != b.tolist()


def test_user_history_aggregates_labels_and_orders_by_last_play() -> None:
    items = np.array([3, 1, 3, 2])
    labels = np.array([CLICK, CLICK | LIKE, CLICK | FINISH, CLICK])
    h = user_history(items, labels, exclude=np.array([2]))
    assert h.items.tolist() == [1, 3]
    assert h.labels.tolist() == [CLICK | LIKE, CLICK | FINISH]


def test_build_source_on_handmade_logs(handmade: Path, tmp_path: Path) -> None:
    cfg = InterestConfig(
        min_seq_len=1,
        max_targets_per_user=1,
        clusters=1,
        cluster_min_plays=1,
        cutoff_ts=500,
        token_max_df=1.0,
    )
    stats = build_seq2item_source(handmade, tmp_path / "out", cfg)
    table = pq.read_table(tmp_path / "out" / "sources" / "seq2item.parquet").to_pylist()
    rows = {r["perspective"]: r for r in table}
    # z is after the cutoff, so t is the latest target; x (test split) and e (t's re-upload) never appear
    assert {r["target_item"] for r in table} == {"t"}
    for r in table:
        assert "x" not in r["query_items"] and "e" not in r["query_items"] and "z" not in r["query_items"]
    # content single peak: ≥3 positives (a, c; not b, d) and a shared rare title word with t
    assert rows["content_single_peak"]["query_items"] == ["a", "c"]
    # content multi peak: Jaccard with t's {c,l,f,lw} > 0.5 → a, c (b, d have 2/4 = 0.5)
    assert rows["content_multi_peak"]["query_items"] == ["a", "c"]
    assert rows["collab_single_peak"]["query_items"] == ["a", "c"]  # one cluster: same as the label filter
    assert rows["collab_multi_peak"]["query_items"] == ["a", "b", "d", "c"]
    assert stats["pairs"] == len(table) and stats["content_similarity"] == "token_jaccard"
    meta = json.loads((tmp_path / "out" / "sources" / "seq2item.json").read_text())
    assert meta["query"] == "items" and meta["n_pairs"] == len(table)
    # apart from `query`, the JSON is a valid SourceConfig
    SourceConfig.model_validate({**meta, "query": "item"})


def test_build_source_with_embeddings(handmade: Path, tmp_path: Path) -> None:
    ids = ["a", "b", "c", "d", "t"]
    emb = np.array([[1, 0], [1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float32)
    cfg = InterestConfig(
        min_seq_len=1, max_targets_per_user=1, perspectives=["content_single_peak"], cutoff_ts=500
    )
    stats = build_seq2item_source(handmade, tmp_path / "o", cfg, item_ids=ids, item_emb=emb)
    row = pq.read_table(tmp_path / "o" / "sources" / "seq2item.parquet").to_pylist()[0]
    assert row["query_items"] == ["c"] and stats["content_similarity"] == "embedding_cosine"


def test_tiny_world_pairs_do_not_leak(tiny_world: Path, tmp_path: Path) -> None:
    stats = build_seq2item_source(tiny_world, tmp_path)
    table = pq.read_table(tmp_path / "sources" / "seq2item.parquet").to_pylist()
    assert stats["pairs"] == len(table) > 100
    assert all(stats["per_perspective"][p] > 0 for p in stats["per_perspective"])
    items = pq.read_table(tiny_world / "items.parquet", columns=["item_id", "split"]).to_pydict()
    split = dict(zip(items["item_id"], items["split"], strict=True))
    beh = pq.read_table(tiny_world / "logs" / "behaviour.parquet").to_pydict()
    first_play: dict[tuple[str, str], int] = {}
    for u, i, ts in zip(beh["user_id"], beh["item_id"], beh["ts"], strict=True):
        first_play[(u, i)] = min(ts, first_play.get((u, i), ts))
    for r in table:
        assert split[r["target_item"]] == "train"
        assert all(split[i] == "train" for i in r["query_items"])
        assert 1 <= len(r["query_items"]) <= 10 and r["target_item"] not in r["query_items"]
        assert all(first_play[(r["user_id"], i)] <= r["target_ts"] for i in r["query_items"])


def test_content_filter_items_give_the_same_pairs_as_the_whole_catalogue(
    tiny_world: Path, tmp_path: Path
) -> None:
    from omnivec.recsys.interests import content_filter_item_ids

    ids = pq.read_table(tiny_world / "items.parquet", columns=["item_id"]).column("item_id").to_pylist()
    emb = np.random.default_rng(0).normal(size=(len(ids), 4)).astype(np.float32)
    cfg = InterestConfig()
    needed = content_filter_item_ids(tiny_world, cfg)
    assert 0 < len(needed) < len(ids)
    keep = [k for k, i in enumerate(ids) if i in set(needed)]
    full = build_seq2item_source(tiny_world, tmp_path / "full", cfg, item_ids=ids, item_emb=emb)
    part = build_seq2item_source(tiny_world, tmp_path / "part", cfg, item_ids=needed, item_emb=emb[keep])
    assert full["per_perspective"]["content_single_peak"] > 0
    read = [
        pq.read_table(tmp_path / d / "sources" / "seq2item.parquet").to_pylist() for d in ("full", "part")
    ]
    assert read[0] == read[1] and full == {**part, "parquet": full["parquet"], "config": full["config"]}
    without = InterestConfig(perspectives=["content_multi_peak", "collab_multi_peak"])
    assert content_filter_item_ids(tiny_world, without) == []
