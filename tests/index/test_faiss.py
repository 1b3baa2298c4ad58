"""FAISS backend: exact flat search, ANN recall, Matryoshka truncation, persistence, items, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from omnivec.errors import ConfigError, DataFormatError
from omnivec.index import Index, SearchHit, build_index, open_index
from omnivec.index.vectors import recall_at_k


@pytest.fixture(scope="module")
def data():
    x = np.random.default_rng(0).standard_normal((500, 32)).astype(np.float32)
    return x, [f"item{i}" for i in range(len(x))]


def test_flat_returns_the_exact_top_k(tmp_path, data, brute_force):
    x, ids = data
    info = build_index(x, ids, tmp_path / "idx", kind="flat")
    assert info.recall_at_10 == 1.0 and info.size == 500 and info.dim == 32
    queries = np.random.default_rng(1).standard_normal((20, 32)).astype(np.float32)
    index = open_index(tmp_path / "idx")
    assert isinstance(index, Index)
    hits = index.search(queries, 10)
    expected = brute_force(x, queries, 32, 10)
    assert [[h.id for h in row] for row in hits] == [[ids[r] for r in row] for row in expected]
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    c = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose([h.score for h in hits[0]], (q[0] @ c.T)[expected[0]], rtol=1e-5)


def test_matryoshka_dim_8_of_32_matches_brute_force_on_prefixes(tmp_path, data, brute_force):
    x, ids = data
    info = build_index(x, ids, tmp_path / "idx", kind="flat", dim=8)
    assert (info.dim, info.source_dim) == (8, 32)
    index = open_index(tmp_path / "idx")
    assert index.dim == 8 and json.loads((tmp_path / "idx" / "index.json").read_text())["dim"] == 8
    queries = np.random.default_rng(2).standard_normal((15, 32)).astype(np.float32)  # full-width queries
    got = [[h.id for h in row] for row in index.search(queries, 10)]
    expected = brute_force(x, queries, 8, 10)
    assert got == [[ids[r] for r in row] for row in expected]
    # the full-width ranking differs: truncation really happened
    assert got != [[ids[r] for r in row] for row in brute_force(x, queries, 32, 10)]
    with pytest.raises(ConfigError, match="have 4 components but the index dim is 8"):
        index.search(queries[:, :4], 5)


@pytest.mark.parametrize(
    ("kind", "options", "floor"),
    [("hnsw", {}, 0.95), ("ivfpq", {}, 0.75), ("ivfpq", {"refine": 4}, 0.98)],
)
def test_ann_recall_is_reported_and_high_on_clustered_data(
    tmp_path, kind, options, floor, clustered, brute_force
):
    x = clustered(3000, 32)
    ids = [str(i) for i in range(len(x))]
    info = build_index(x, ids, tmp_path / "idx", kind=kind, recall_queries=300, seed=5, **options)
    stored = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert stored["recall_at_10"] == info.recall_at_10 == stored["recall_by_kind"][kind]
    assert stored["recall_queries"] == 300
    assert floor <= info.recall_at_10 <= 1.0
    # the reported number is what the saved index really does against brute force
    rows = np.sort(np.random.default_rng(5).choice(len(x), 300, replace=False))
    index = open_index(tmp_path / "idx")
    found = [[h.id for h in hs] for hs in index.search(x[rows], 10)]
    exact = [[ids[r] for r in row] for row in brute_force(x, x[rows], 32, 10)]
    assert recall_at_k(found, exact) == pytest.approx(info.recall_at_10, abs=0.005)


def test_ivfpq_clamps_nlist_and_refuses_tiny_corpora(tmp_path, clustered):
    x = clustered(1000, 16)
    ids = [str(i) for i in range(1000)]
    info = build_index(x, ids, tmp_path / "a", kind="ivfpq", nlist=10_000, nprobe=4)
    assert info.options["nlist"] == min(int(4 * np.sqrt(1000)), 1000 // 39) == 25
    assert info.options["nbits"] == 4 and info.options["pq_m"] == 8 and info.options["nprobe"] == 4
    assert any("nlist 10000 clamped to 25" in n for n in info.notes)
    with pytest.raises(ConfigError, match=r"needs at least 624 vectors.*got 300.*use kind 'flat'"):
        build_index(x[:300], ids[:300], tmp_path / "b", kind="ivfpq")
    with pytest.raises(ConfigError, match=r"nbits=8 needs at least 9984 vectors.*lower nbits"):
        build_index(x, ids, tmp_path / "b", kind="ivfpq", nbits=8)
    with pytest.raises(ConfigError, match="pq_m must divide the index dim 16, got 5"):
        build_index(x, ids, tmp_path / "b", kind="ivfpq", pq_m=5)
    assert not (tmp_path / "b").exists()


def test_persistence_reopen_items_and_search_overrides(tmp_path, clustered):
    x = clustered(800, 16, seed=3)
    ids = [f"v{i}" for i in range(800)]
    items = [{"item_id": f"v{i}", "title": f"video {i}", "tags": ["a", str(i % 3)], "image": f"img/{i}.png"}
             for i in range(0, 800, 2)] + [{"item_id": "not-indexed", "title": "spare"}]  # fmt: skip
    info = build_index(x, ids, tmp_path / "idx", kind="hnsw", ef_search=16, items=items, model=tmp_path / "m")
    assert info.items == {"with_fields": 400, "missing": 400, "unused": 1, "source": None}
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == [
        "ids.parquet", "index.faiss", "index.json", "items.parquet", "lexical",
    ]  # fmt: skip
    assert info.lexical is not None and info.lexical["size"] == 400  # the items with a title (BM25 part)
    stored = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert stored["model"] == str((tmp_path / "m").resolve()) and "created_at" not in stored
    first = open_index(tmp_path / "idx").search(x[:5], 7)
    again = open_index(tmp_path / "idx")
    assert again.size == 800 and again.info["options"]["ef_search"] == 16
    assert [[(h.id, round(h.score, 5)) for h in r] for r in again.search(x[:5], 7)] == [
        [(h.id, round(h.score, 5)) for h in r] for r in first
    ]
    assert again.item("v4") == {"title": "video 4", "tags": ["a", "1"], "image": "img/4.png"}
    assert again.item("v3") == {} and again.item("not-indexed") is None
    hit = first[0][0]
    assert isinstance(hit, SearchHit) and hit.id == "v0" and hit.fields["title"] == "video 0"
    assert hit.score == pytest.approx(1.0, abs=1e-5)
    assert open_index(tmp_path / "idx", ef_search=200).info["options"]["ef_search"] == 200
    with pytest.raises(
        ConfigError, match=r"search option\(s\) \['nprobe'\] do not apply to faiss kind 'hnsw'"
    ):
        open_index(tmp_path / "idx", nprobe=3)
    assert len(again.search(x[0], 5000)[0]) == 800  # k clamps to the corpus size


def test_build_errors_name_the_setting(tmp_path, data):
    x, ids = data
    with pytest.raises(ConfigError, match="dim 64 must be between 1 and the embeddings' 32 components"):
        build_index(x, ids, tmp_path / "i", dim=64)
    with pytest.raises(ConfigError, match=r"unknown index kind 'ivf' for backend 'faiss'; expected one of"):
        build_index(x, ids, tmp_path / "i", kind="ivf")
    with pytest.raises(ConfigError, match="unknown index backend 'annoy'"):
        build_index(x, ids, tmp_path / "i", backend="annoy")
    with pytest.raises(ConfigError, match=r"option\(s\) \['nprobe'\] do not apply to faiss kind 'hnsw'"):
        build_index(x, ids, tmp_path / "i", kind="hnsw", nprobe=3)
    with pytest.raises(ConfigError, match="option ef_search must be at least 1, got 0"):
        build_index(x, ids, tmp_path / "i", kind="hnsw", ef_search=0)
    with pytest.raises(ConfigError, match="unknown metric 'l1'"):
        build_index(x, ids, tmp_path / "i", metric="l1")
    with pytest.raises(DataFormatError, match="item_id 'item0' appears twice"):
        build_index(x[:3], ["item0", "item1", "item0"], tmp_path / "i")
    with pytest.raises(DataFormatError, match="got 500 embeddings but 3 ids"):
        build_index(x, ids[:3], tmp_path / "i")
    bad = x.copy()
    bad[7, 0] = np.inf
    with pytest.raises(DataFormatError, match=r"embeddings row 7 \(item_id 'item7'\) contains NaN or inf"):
        build_index(bad, ids, tmp_path / "i")
    with pytest.raises(DataFormatError, match=r"items: field\(s\) \['nope'\] not found"):
        build_index(x, ids, tmp_path / "i", items=[{"item_id": "item1", "title": "t"}], fields=["nope"])
    assert not (tmp_path / "i").exists()
    with pytest.raises(DataFormatError, match="is not an omnivec index folder"):
        open_index(tmp_path)


def test_compare_kinds_measures_every_kind(tmp_path, clustered):
    x = clustered(1500, 16)
    info = build_index(x, [str(i) for i in range(1500)], tmp_path / "idx", kind="flat", compare_kinds=True)
    assert set(info.recall_by_kind) == {"flat", "hnsw", "ivfpq"}
    assert info.recall_by_kind["flat"] == 1.0 and info.recall_by_kind["hnsw"] >= 0.95
    assert 0.3 < info.recall_by_kind["ivfpq"] < 1.0
    assert not [p for p in (tmp_path / "idx").iterdir() if p.name.startswith(".")]
    small = build_index(x[:100], [str(i) for i in range(100)], tmp_path / "s", compare_kinds=["ivfpq"])
    assert small.recall_by_kind == {"flat": 1.0, "ivfpq": None}
    assert any("kind 'ivfpq' skipped" in n for n in small.notes)
