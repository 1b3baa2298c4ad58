"""/v1/search against the fake index, and cover thumbnails (only index items, only inside the media root)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

CATALOGUE_TITLES = {
    "beach": "sunset over the beach",
    "news": "city news tonight",
    "guitar": "guitar lesson for beginners",
}


@pytest.mark.parametrize("item_id", list(CATALOGUE_TITLES))
def test_an_items_own_text_finds_it_first(make_client, fake_index, item_id):
    from_index = fake_index.item(item_id)
    query = {k: v for k, v in from_index.items() if k in ("title", "tags", "nickname")}
    r = make_client(index=fake_index).post("/v1/search", json={"query": query, "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "search.result" and body["task"] == "q2i" and body["side"] == "query"
    hits = body["data"]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["id"] == item_id
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    assert hits[0]["fields"]["title"] == CATALOGUE_TITLES[item_id]
    assert body["usage"]["prompt_tokens"] > 0


def test_results_carry_fields_and_media_names_but_never_paths(make_client, fake_index, media_root):
    client = make_client(index=fake_index, media_root=media_root)
    hits = client.post("/v1/search", json={"query": "beach", "k": fake_index.size}).json()["data"]
    by_id = {h["id"]: h for h in hits}
    assert set(by_id) == set(fake_index.ids)
    assert by_id["beach"]["fields"] == {"title": "sunset over the beach", "tags": ["travel", "beach"]}
    assert by_id["beach"]["media"] == ["image"] and by_id["guitar"]["media"] == ["video"]
    assert "covers/" not in str(hits) and "clips/" not in str(hits)
    assert by_id["beach"]["thumbnail"] == "/v1/thumbnail?id=beach"
    assert by_id["news"]["thumbnail"] is None  # no media


def test_no_thumbnails_without_a_media_root(make_client, fake_index):
    client = make_client(index=fake_index)
    hits = client.post("/v1/search", json={"query": "beach"}).json()["data"]
    assert all(h["thumbnail"] is None for h in hits)
    assert client.get("/v1/thumbnail", params={"id": "beach"}).status_code == 404


def test_image_and_omni_queries(make_client, fake_index, media):
    client = make_client(index=fake_index)
    image = media.uri(media.png((250, 150, 40)), "image/png")
    for query in ({"image": image}, {"text": "guitar", "audio": media.uri(media.wav(), "audio/wav")}):
        r = client.post("/v1/search", json={"query": query, "k": 4})
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) == 4


def test_thumbnails_only_for_index_items_inside_the_media_root(make_client, fake_index, media_root):
    client = make_client(index=fake_index, media_root=media_root, thumbnail_size=32)
    for item_id in ("beach", "pasta", "dog", "guitar"):
        r = client.get("/v1/thumbnail", params={"id": item_id})
        assert r.status_code == 200, item_id
        assert r.headers["content-type"] == "image/jpeg"
        im = Image.open(io.BytesIO(r.content))
        assert im.format == "JPEG" and max(im.size) <= 32
    beach = Image.open(io.BytesIO(client.get("/v1/thumbnail", params={"id": "beach"}).content))
    assert beach.size == (32, 20)  # aspect ratio kept (64x40)
    for item_id in (
        "escape",
        "link",
        "news",
        "missing",
        "../secret.png",
        str(media_root / "covers/beach.png"),
    ):
        r = client.get("/v1/thumbnail", params={"id": item_id})
        assert r.status_code == 404, item_id
        assert r.json()["error"]["code"] == "no_thumbnail"
    assert client.get("/v1/thumbnail").status_code == 400


def test_search_errors(make_client, fake_index):
    no_index = make_client()
    r = no_index.post("/v1/search", json={"query": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "index_not_loaded"
    client = make_client(index=fake_index, max_search_k=5)
    cases = [
        ({"query": "x", "k": 6}, 400, "k"),
        ({"query": "x", "k": 0}, 400, "k"),
        ({"query": ["x"]}, 400, "query"),
        ({"query": {"title": "x", "colour": "red"}}, 422, "query.colour"),
        ({"query": {"image": "data:image/png;base64,aGVsbG8="}}, 422, "query.image"),
        ({"query": {"image": "/etc/hosts"}}, 422, "query.image"),
        ({"query": ""}, 422, "query"),
        ({"query": "x", "task": "nope"}, 400, "task"),
    ]
    for body, status, param in cases:
        r = client.post("/v1/search", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["param"] == param, body
    r = client.post("/v1/search", json={"query": {"image": "data:image/png;base64,aGVsbG8="}})
    assert r.json()["error"]["message"].startswith("query, field 'image': ")
