"""Index folders with a lexical part: built by build_index, reopened, searched dense/lexical/hybrid, and kept
intact when a build dies after (or while) writing it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from omnivec.errors import ConfigError
from omnivec.index import build_index, open_index, search
from omnivec.index.hybrid import HybridSearcher, hybrid_search, rrf_fuse, weighted_fuse
from omnivec.index.lexical import LexicalIndex

ROWS = [
    {"item_id": "code", "title": "X7-200 fast charger", "tags": ["power"], "image": "c/code.png"},
    {"item_id": "twin", "title": "travel adapter", "nickname": "gadget_guy"},
    {"item_id": "cable", "title": "x700 charging cable"},
    {"item_id": "phone", "title": "x7 phone", "ocr": "200 apps preinstalled"},
    {"item_id": "pasta", "title": "fresh pasta", "nickname": "chef anna"},
    {"item_id": "mute", "image": "c/mute.png"},  # no text: dense only
]
IDS = [r["item_id"] for r in ROWS]


def _vectors() -> np.ndarray:
    """One direction per item; "twin" is the dense neighbour of the query vector, "code" is far from it."""
    x = np.eye(len(ROWS), 8, dtype=np.float32)
    x[IDS.index("code")] = np.eye(1, 8, 7, dtype=np.float32)[0]
    return x


QUERY_VECTOR = (
    np.eye(1, 8, IDS.index("twin"), dtype=np.float32)[0] + 0.3 * np.eye(1, 8, 2, dtype=np.float32)[0]
)


def _snapshot(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hybrid") / "idx"
    info = build_index(_vectors(), IDS, folder, items=ROWS, recall_queries=3)
    return info, open_index(folder)


def test_build_writes_and_open_reloads_the_lexical_part(built):
    info, index = built
    assert info.lexical == {
        "size": 5, "fields": ["title", "ocr", "nickname", "tags"], "tokenizer": "words-v1", "k1": 1.5,
        "b": 0.75, "vocabulary": info.lexical["vocabulary"],
    }  # fmt: skip
    assert (info.path / "lexical" / "lexical.json").is_file()
    assert index.has_lexical and isinstance(index.lexical, LexicalIndex) and index.lexical is index.lexical
    assert sorted(index.lexical.ids) == sorted(i for i in IDS if i != "mute")
    assert index.lexical.search(["x7-200"], 1)[0][0][0] == "code"


def test_dense_lexical_and_hybrid_modes(built):
    _, index = built
    dense = hybrid_search(index, vector=QUERY_VECTOR, k=3, mode="dense")
    assert [h.id for h in dense] == [h.id for h in index.search(QUERY_VECTOR[None], 3)[0]]
    assert [h.id for h in dense[:2]] == ["twin", "cable"] and dense[2].score == 0  # code: orthogonal

    lexical = hybrid_search(index, text="X7-200", k=3, mode="lexical")
    assert lexical[0].id == "code" and lexical[0].fields["title"] == "X7-200 fast charger"
    assert lexical[0].details == {"lexical": {"rank": 1, "score": lexical[0].score}}

    hybrid = hybrid_search(index, vector=QUERY_VECTOR, text="X7-200", k=2, mode="hybrid", candidates=2)
    dense_ids = [h.id for h in index.search(QUERY_VECTOR[None], 2)[0]]
    lexical_ids = [i for i, _ in index.lexical.search(["X7-200"], 2)[0]]
    assert dense_ids == ["twin", "cable"] and lexical_ids == ["code", "phone"]
    assert [(h.id, h.score) for h in hybrid] == rrf_fuse([dense_ids, lexical_ids], limit=2)
    assert [h.id for h in hybrid] == ["code", "twin"]  # each side's best; equal RRF scores, id order
    by_id = {h.id: h for h in hybrid}
    assert by_id["code"].details["lexical"]["rank"] == 1 and "dense" not in by_id["code"].details
    assert by_id["code"].fields["tags"] == ["power"]  # fields of a lexical-only hit are looked up


def test_hybrid_weights_and_weighted_fusion(built):
    _, index = built
    q = {"vector": QUERY_VECTOR, "text": "X7-200", "k": 5, "mode": "hybrid", "candidates": 5}
    only_lexical = hybrid_search(index, **q, weights={"dense": 0.0})
    assert [h.id for h in only_lexical] == [i for i, _ in index.lexical.search(["X7-200"], 5)[0]]
    only_dense = hybrid_search(index, **q, weights={"lexical": 0.0})
    assert [h.id for h in only_dense] == [h.id for h in index.search(QUERY_VECTOR[None], 5)[0]]

    weighted = hybrid_search(index, **q, fusion="weighted", weights={"dense": 1.0, "lexical": 3.0})
    dense = [(h.id, h.score) for h in index.search(QUERY_VECTOR[None], 5)[0]]
    expected = weighted_fuse([dense, index.lexical.search(["X7-200"], 5)[0]], [1.0, 3.0], limit=5)
    assert [(h.id, pytest.approx(h.score)) for h in weighted] == expected
    assert weighted[0].id == "code"

    searcher = HybridSearcher(index, fusion="weighted", weights={"lexical": 3.0}, candidates=5)
    assert searcher.search(vector=QUERY_VECTOR, text="X7-200", k=5) == weighted
    assert searcher.search(vector=QUERY_VECTOR, text="X7-200", k=5, fusion="rrf") == hybrid_search(
        index, vector=QUERY_VECTOR, text="X7-200", k=5, candidates=5, weights={"lexical": 3.0}
    )
    with pytest.raises(ConfigError, match=r"unknown search option\(s\) \['depth'\]"):
        searcher.search(vector=QUERY_VECTOR, text="x", depth=3)


def test_mode_errors_name_what_is_missing(built, tmp_path):
    _, index = built
    with pytest.raises(ConfigError, match="needs query text"):
        hybrid_search(index, vector=QUERY_VECTOR, text="  ", mode="hybrid")
    with pytest.raises(ConfigError, match="needs a query vector"):
        hybrid_search(index, text="x7", mode="hybrid")
    with pytest.raises(ConfigError, match=r"unknown search mode 'sparse'"):
        hybrid_search(index, text="x7", mode="sparse")
    with pytest.raises(ConfigError, match="unknown fusion 'max'"):
        hybrid_search(index, vector=QUERY_VECTOR, text="x7", fusion="max")

    build_index(_vectors(), IDS, tmp_path / "dense", items=ROWS, lexical=False, recall_queries=3)
    dense_only = open_index(tmp_path / "dense")
    assert not (tmp_path / "dense" / "lexical").exists() and dense_only.lexical is None
    for mode in ("lexical", "hybrid"):
        with pytest.raises(ConfigError, match="--lexical"):
            hybrid_search(dense_only, vector=QUERY_VECTOR, text="x7", mode=mode)
    assert hybrid_search(dense_only, vector=QUERY_VECTOR, mode="dense")[0].id == "twin"


def test_lexical_default_required_and_field_selection(tmp_path):
    no_text = [{"item_id": i, "image": f"{i}.png"} for i in IDS]
    info = build_index(_vectors(), IDS, tmp_path / "a", items=no_text, recall_queries=3)
    assert info.lexical is None and any(n.startswith("lexical: skipped") for n in info.notes)
    assert build_index(_vectors(), IDS, tmp_path / "b", recall_queries=3).lexical is None
    with pytest.raises(ConfigError, match="--no-lexical"):
        build_index(_vectors(), IDS, tmp_path / "c", items=no_text, lexical=True, recall_queries=3)
    assert not (tmp_path / "c").exists()
    # the text is read before `fields` narrows the stored columns
    info = build_index(_vectors(), IDS, tmp_path / "d", items=ROWS, fields=["image"], recall_queries=3)
    index = open_index(tmp_path / "d")
    assert info.lexical["size"] == 5 and index.item("code") == {"image": "c/code.png"}
    assert [h.id for h in hybrid_search(index, text="chef anna", mode="lexical")] == ["pasta"]


def test_library_search_modes_with_and_without_a_model(built, tiny_model, tmp_path):
    _, index = built
    hits = search(None, index, {"title": "X7-200"}, k=2, mode="lexical")  # no model needed
    assert hits[0].id == "code"
    with pytest.raises(ConfigError, match="needs a model"):
        search(None, index, "X7-200", mode="hybrid")
    vectors = tiny_model.encode([{"title": r.get("title", "cover")} for r in ROWS], task="q2i", side="target")
    build_index(vectors, IDS, tmp_path / "m", dim=16, items=ROWS, recall_queries=3)
    real = open_index(tmp_path / "m")
    query = {"text": "X7-200"}
    vector = np.asarray(tiny_model.encode(query, task="q2i", side="query"))
    expected = hybrid_search(real, vector=vector, text="X7-200", k=3, fusion="weighted")
    assert search(tiny_model, real, query, k=3, mode="hybrid", fusion="weighted") == expected
    assert search(tiny_model, real, query, k=3) == real.search(vector[None], 3)[0]  # dense stays the default


def test_failure_inside_the_lexical_write_keeps_the_old_index(tmp_path, monkeypatch):
    import bm25s

    idx = tmp_path / "idx"
    build_index(_vectors(), IDS, idx, items=ROWS, recall_queries=3)
    before = _snapshot(idx)
    original = bm25s.BM25.save

    def broken_save(self, save_dir, *args, **kwargs):
        original(self, save_dir, *args, **kwargs)
        raise OSError("disk full while writing the lexical index")

    monkeypatch.setattr(bm25s.BM25, "save", broken_save)
    new_rows = [{"item_id": f"n{i}", "title": f"new item {i}"} for i in range(4)]
    with pytest.raises(OSError, match="disk full"):
        build_index(_vectors()[:4], [f"n{i}" for i in range(4)], idx, items=new_rows, recall_queries=2)
    assert _snapshot(idx) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"], "no temporary folder left behind"
    assert open_index(idx).lexical.search(["x7-200"], 1)[0][0][0] == "code"


def test_build_killed_after_the_lexical_part_keeps_the_old_index(tmp_path):
    idx = tmp_path / "idx"
    build_index(_vectors(), IDS, idx, items=ROWS, recall_queries=3)
    before = _snapshot(idx)
    script = textwrap.dedent(
        f"""
        import os, signal
        import numpy as np
        import omnivec.index.build as build

        def dying_write_ids(folder, ids):
            os.kill(os.getpid(), signal.SIGKILL)

        build.write_ids = dying_write_ids  # called right after lexical/ is written
        rows = [{{"item_id": f"n{{i}}", "title": f"new item {{i}}"}} for i in range(4)]
        x = np.eye(4, 8, dtype=np.float32)
        build.build_index(x, [r["item_id"] for r in rows], {str(idx)!r}, items=rows, recall_queries=2)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert _snapshot(idx) == before
    leftovers = [p for p in tmp_path.iterdir() if p.name != "idx"]
    assert len(leftovers) == 1 and leftovers[0].name.endswith(".tmp")
    dead = LexicalIndex.load(leftovers[0] / "lexical")  # the new lexical part was complete, never swapped in
    assert dead.search(["new"], 1)[0][0][0].startswith("n")
    index = open_index(idx)
    assert index.size == len(IDS) and index.lexical.search(["x7-200"], 1)[0][0][0] == "code"

    build_index(_vectors(), IDS, idx, items=ROWS, lexical=False, recall_queries=3)  # cleans the dead build
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"] and open_index(idx).lexical is None
