"""Milvus backend through milvus-lite (a local .db): same top-k as FAISS flat, reopen, alias rebuilds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from omnivec.errors import ConfigError
from omnivec.index import MilvusIndex, build_index, open_index

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


@pytest.fixture(scope="module")
def data(clustered):
    x = clustered(600, 24, seed=4)
    return x, [f"m{i}" for i in range(len(x))]


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_milvus_flat_matches_faiss_flat_and_brute_force(tmp_path, data, metric, brute_force):
    x, ids = data
    items = [{"item_id": i, "title": f"title of {i}"} for i in ids]
    info = build_index(
        x, ids, tmp_path / "mv", backend="milvus", kind="flat", dim=16, metric=metric, items=items
    )
    build_index(x, ids, tmp_path / "fs", backend="faiss", kind="flat", dim=16)
    assert info.recall_at_10 == 1.0
    queries = np.random.default_rng(9).standard_normal((12, 24)).astype(np.float32)
    with open_index(tmp_path / "mv") as mv, open_index(tmp_path / "fs") as fs:
        assert isinstance(mv, MilvusIndex) and mv.dim == 16 and mv.size == 600
        got, ref = mv.search(queries, 10), fs.search(queries, 10)
        assert [[h.id for h in r] for r in got] == [[h.id for h in r] for r in ref]
        assert [[h.id for h in r] for r in got] == [
            [ids[j] for j in row] for row in brute_force(x, queries, 16, 10)
        ]
        np.testing.assert_allclose([h.score for h in got[0]], [h.score for h in ref[0]], atol=1e-5)
        assert got[0][0].fields == {"title": f"title of {got[0][0].id}"}
        assert mv.item("m3") == {"title": "title of m3"} and mv.item("zzz") is None
    stored = json.loads((tmp_path / "mv" / "index.json").read_text())
    assert stored["milvus"] == {"uri": "milvus.db", "local": True, "collection": "omnivec",
                                "physical_collection": "omnivec"}  # fmt: skip
    assert (tmp_path / "mv" / "milvus.db").exists()


def test_milvus_hnsw_recall_reopen_and_moved_folder(tmp_path, data):
    x, ids = data
    info = build_index(x, ids, tmp_path / "a", backend="milvus", kind="hnsw", ef_search=32)
    assert info.recall_at_10 >= 0.95
    (tmp_path / "a").rename(tmp_path / "b")  # the lite db is stored relative to the folder
    with open_index(tmp_path / "b", ef_search=100) as index:
        assert index.info["options"]["ef_search"] == 100
        hits = index.search(x[:3], 5)
        assert [r[0].id for r in hits] == ids[:3]
    # rebuilding a folder this process holds open serves the new data, not the old folder's lite server
    stale = open_index(tmp_path / "b")
    stale.search(x[:1], 1)
    build_index(x[:100], ids[:100], tmp_path / "b", backend="milvus", kind="flat")
    with open_index(tmp_path / "b") as index:
        stale.close()  # closing the stale handle must not stop the new folder's server
        assert index.size == 100 and {h.id for h in index.search(x[200:210], 5)[0]} <= set(ids[:100])


def test_external_lite_db_uses_versioned_collections_behind_an_alias(tmp_path, data):
    from pymilvus import MilvusClient

    x, ids = data
    uri = str(tmp_path / "shared.db")
    build_index(x, ids, tmp_path / "idx", backend="milvus", uri=uri, collection="videos")
    assert (
        json.loads((tmp_path / "idx" / "index.json").read_text())["milvus"]["physical_collection"]
        == "videos_v1"
    )
    build_index(x[:50], ids[:50], tmp_path / "idx", backend="milvus", uri=uri, collection="videos")
    with open_index(tmp_path / "idx") as index:
        assert index.size == 50
        assert index.info["milvus"] == {"uri": uri, "local": False, "collection": "videos",
                                        "physical_collection": "videos_v2"}  # fmt: skip
    client = MilvusClient(uri)
    try:
        assert client.list_collections() == ["videos_v2"]  # the replaced collection was dropped
        assert client.describe_alias("videos")["collection_name"] == "videos_v2"
    finally:
        client.close()
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)


def test_milvus_errors(tmp_path, data):
    x, ids = data
    with pytest.raises(ConfigError, match=r"milvus-lite .* cannot load kind 'ivfpq'"):
        build_index(x, ids, tmp_path / "i", backend="milvus", kind="ivfpq")
    with pytest.raises(ConfigError, match="collection name 'bad-name' must start with a letter"):
        build_index(x, ids, tmp_path / "i", backend="milvus", collection="bad-name")
    with pytest.raises(ConfigError, match="put credentials in the token option"):
        build_index(x, ids, tmp_path / "i", backend="milvus", uri="http://root:secret@host:19530")
    with pytest.raises(ConfigError, match=r"option\(s\) \['uri'\] do not apply to faiss kind 'flat'"):
        build_index(x, ids, tmp_path / "i", backend="faiss", uri="http://host:19530")
    assert not (tmp_path / "i").exists()
