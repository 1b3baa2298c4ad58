"""The server over a real ``omnivec.index`` FAISS index (skipped while that package or faiss is unavailable):
search hits, fields from the items table, thumbnails resolved from the index's items file folder."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image


def test_search_and_thumbnails_over_a_faiss_index(make_client, tiny_model, media_root, tmp_path):
    index_mod = pytest.importorskip("omnivec.index")
    pytest.importorskip("faiss")
    rows = [
        {"item_id": "beach", "title": "sunset over the beach", "image": "covers/beach.png"},
        {"item_id": "guitar", "title": "guitar lesson for beginners", "video": "clips/guitar.mp4"},
        {"item_id": "news", "title": "city news tonight"},
        {"item_id": "escape", "title": "outside", "image": "../secret.png"},
    ]
    items_file = media_root / "items.jsonl"  # the items source: media paths are relative to its folder
    items_file.write_text("\n".join(json.dumps(r) for r in rows))
    texts = [{"title": r["title"]} for r in rows]
    vectors = tiny_model.encode(texts, task="q2i", side="target")
    index_dir = tmp_path / "index"
    index_mod.build_index(
        vectors, [r["item_id"] for r in rows], index_dir, dim=16, items=rows, items_source=items_file,
        recall_queries=4,
    )  # fmt: skip
    index = index_mod.open_index(index_dir)
    client = make_client(index=index, media_root=media_root)

    query = {"title": "sunset over the beach"}
    r = client.post("/v1/search", json={"query": query, "k": 4, "side": "target"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == "q2i"
    hits = body["data"]
    assert hits[0]["id"] == "beach" and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert hits[0]["fields"] == {"title": "sunset over the beach"} and hits[0]["media"] == ["image"]
    expected = np.asarray(tiny_model.encode(query, task="q2i", side="target"))
    direct = index.search(expected.reshape(1, -1), 4)[0]
    assert [h["id"] for h in hits] == [h.id for h in direct]
    thumbs = {h["id"]: h["thumbnail"] for h in hits}
    assert thumbs["beach"] and thumbs["guitar"] and thumbs["news"] is None and thumbs["escape"] is None
    jpeg = client.get(thumbs["beach"])
    assert jpeg.status_code == 200 and Image.open(io.BytesIO(jpeg.content)).format == "JPEG"
    assert client.get("/v1/thumbnail", params={"id": "escape"}).status_code == 404
    assert client.get("/health").json()["index"] == {"size": 4, "dim": 16}
