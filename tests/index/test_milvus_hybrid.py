"""Hybrid retrieval over a Milvus (milvus-lite) index with a lexical part: built, reopened, and searched in
every mode with the same answers as a FAISS flat index of the same data."""

from __future__ import annotations

import numpy as np
import pytest

from omnivec.index import MilvusIndex, build_index, open_index
from omnivec.index.hybrid import MODES, hybrid_search

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

WORDS = ["charger", "cable", "phone", "pasta", "beach", "guitar", "sunset", "recipe", "x7", "lesson"]
TEXTS = ["x7 charger", "sunset beach", "pasta recipe", "guitar lesson", "phone cable"]


@pytest.fixture(scope="module")
def data(clustered):
    """200 clustered vectors; items with 2-4 words of a small vocabulary (every 7th has no text: dense only)."""
    x = clustered(200, 24, seed=11)
    ids = [f"h{i}" for i in range(len(x))]
    rng = np.random.default_rng(11)
    titles = [" ".join(rng.choice(WORDS, rng.integers(2, 5))) for _ in ids]
    items = [{"item_id": i} if n % 7 == 0 else {"item_id": i, "title": titles[n]} for n, i in enumerate(ids)]
    queries = np.random.default_rng(12).standard_normal((len(TEXTS), 24)).astype(np.float32)
    return x, ids, items, queries


@pytest.fixture(scope="module")
def both(data, tmp_path_factory):
    """The same data built twice with lexical on, ``dim=16``: a Milvus flat index and a FAISS flat index,
    each reopened from its folder."""
    x, ids, items, _ = data
    root = tmp_path_factory.mktemp("milvus-hybrid")
    common = {"kind": "flat", "dim": 16, "items": items, "lexical": True, "recall_queries": 20}
    mv_info = build_index(x, ids, root / "mv", backend="milvus", **common)
    fs_info = build_index(x, ids, root / "fs", backend="faiss", **common)
    assert mv_info.lexical == fs_info.lexical and mv_info.lexical["size"] == len(ids) - 29
    with open_index(root / "mv") as mv, open_index(root / "fs") as fs:
        yield mv, fs


def _ids(hits):
    return [h.id for h in hits]


def test_milvus_index_reopens_with_its_lexical_part(both):
    mv, fs = both
    assert isinstance(mv, MilvusIndex) and mv.has_lexical
    assert (mv.path / "lexical").is_dir() and (mv.path / "milvus.db").exists()
    assert sorted(mv.lexical.ids) == sorted(fs.lexical.ids)


@pytest.mark.parametrize("mode", MODES)
def test_milvus_hybrid_search_matches_faiss_flat(both, data, brute_force, mode):
    x, ids, _, queries = data
    mv, fs = both
    exact = brute_force(x, queries, 16, 10)
    for n, (vector, text) in enumerate(zip(queries, TEXTS, strict=True)):
        q = {"vector": vector, "text": text, "k": 10, "mode": mode}
        got, ref = hybrid_search(mv, **q), hybrid_search(fs, **q)
        assert len(got) == 10 and _ids(got) == _ids(ref), (mode, text)
        assert [h.fields for h in got] == [h.fields for h in ref]
        if mode == "dense":
            assert _ids(got) == [ids[j] for j in exact[n]]  # exact top-k
            np.testing.assert_allclose([h.score for h in got], [h.score for h in ref], atol=1e-5)
        elif mode == "lexical":
            assert [(h.id, h.score, h.details) for h in got] == [(h.id, h.score, h.details) for h in ref]
        else:
            np.testing.assert_allclose([h.score for h in got], [h.score for h in ref], atol=1e-6)
            ranks = [{side: d["rank"] for side, d in h.details.items()} for h in got]
            assert ranks == [{side: d["rank"] for side, d in h.details.items()} for h in ref]
            for options in (
                {"fusion": "rrf", "weights": {"lexical": 2.0}, "candidates": 20},
                {"fusion": "weighted", "weights": {"dense": 0.5}, "candidates": 20},
                {"candidates": 500},  # more than the index holds: every item from each side
            ):
                assert _ids(hybrid_search(mv, **q, **options)) == _ids(hybrid_search(fs, **q, **options))
