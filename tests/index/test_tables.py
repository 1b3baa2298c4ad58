"""Reading embeddings and item files: clear errors naming file and column."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnivec.errors import DataFormatError
from omnivec.index import build_index_from_files, open_index, read_embeddings, read_items_table


def _emb(path, vectors, ids=None, column="embedding"):
    ids = ids or [f"i{n}" for n in range(len(vectors))]
    flat = pa.array(np.asarray(vectors, np.float32).reshape(-1), pa.float32())
    table = pa.table({"item_id": ids, "row": pa.array(range(len(ids)), pa.int64()),
                      column: pa.FixedSizeListArray.from_arrays(flat, len(vectors[0]))})  # fmt: skip
    pq.write_table(table, path)
    return path


def test_read_embeddings_roundtrip_and_errors(tmp_path):
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    vectors, ids = read_embeddings(_emb(tmp_path / "e.parquet", x))
    np.testing.assert_array_equal(vectors, x)
    assert ids == [f"i{n}" for n in range(6)]
    with pytest.raises(
        DataFormatError, match=r"e2.parquet: missing column 'embedding' \(has \['item_id', 'row', 'vec'\]\)"
    ):
        read_embeddings(_emb(tmp_path / "e2.parquet", x, column="vec"))
    ragged = pa.table(
        {"item_id": ["a", "b"], "embedding": pa.array([[1.0, 2.0], [1.0]], pa.list_(pa.float32()))}
    )
    pq.write_table(ragged, tmp_path / "r.parquet")
    with pytest.raises(DataFormatError, match="'embedding' has 1 components at row 1 but 2 at row 0"):
        read_embeddings(tmp_path / "r.parquet")
    with pytest.raises(DataFormatError, match="does not exist"):
        read_embeddings(tmp_path / "nope.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataFormatError, match="not a readable Parquet file"):
        read_embeddings(tmp_path / "bad.parquet")


def test_items_jsonl_are_aligned_to_the_index(tmp_path):
    x = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    rows = [{"item_id": "i2", "title": "two", "tags": ["x"], "video": "v/2.mp4"},
            {"item_id": "i0", "title": "zero", "nickname": "amy"}, {"item_id": "extra", "title": "?"}]  # fmt: skip
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    info = build_index_from_files(
        _emb(tmp_path / "e.parquet", x), tmp_path / "idx", items_path=tmp_path / "items.jsonl"
    )
    assert info.items == {"with_fields": 2, "missing": 2, "unused": 1,
                          "source": str((tmp_path / "items.jsonl").resolve())}  # fmt: skip
    index = open_index(tmp_path / "idx")
    assert index.item("i2") == {"title": "two", "tags": ["x"], "video": "v/2.mp4"}
    assert index.item("i0") == {"title": "zero", "nickname": "amy"}
    assert index.item("i1") == {} and index.item("extra") is None
    assert pq.read_table(tmp_path / "idx" / "items.parquet").column("item_id").to_pylist() == [
        "i0",
        "i1",
        "i2",
        "i3",
    ]
    (tmp_path / "dup.jsonl").write_text('{"item_id": "a"}\n{"item_id": "a"}\n')
    with pytest.raises(DataFormatError, match="item_id 'a' appears twice"):
        build_index_from_files(tmp_path / "e.parquet", tmp_path / "idx2", items_path=tmp_path / "dup.jsonl")
    (tmp_path / "noid.jsonl").write_text('{"title": "a"}\n')
    with pytest.raises(DataFormatError, match="row 0 has no 'item_id'"):
        read_items_table(tmp_path / "noid.jsonl")
    pq.write_table(pa.table({"title": ["a"]}), tmp_path / "noid.parquet")
    with pytest.raises(DataFormatError, match=r"noid.parquet: missing column 'item_id'"):
        read_items_table(tmp_path / "noid.parquet")


def test_items_with_mixed_types_name_the_column():
    from omnivec.index.tables import items_to_table

    with pytest.raises(DataFormatError, match="column 'tags' mixes value types"):
        items_to_table([{"item_id": 1, "tags": ["a"]}, {"item_id": 2, "tags": 3}])
    table = items_to_table([{"id": 7}, {"item_id": "x", "title": "late column"}])
    assert table.to_pylist() == [{"item_id": "7", "title": None}, {"item_id": "x", "title": "late column"}]
