"""/v1/search with mode lexical / hybrid over a real index with a lexical part; defaults and errors."""

from __future__ import annotations

import numpy as np
import pytest
from serve_helpers import build_text_index

from omnivec.errors import ConfigError


def _err(r):
    return r.json()["error"]


def test_lexical_mode_embeds_nothing(make_client, lexical_index):
    client = make_client(index=lexical_index)
    r = client.post("/v1/search", json={"query": "X7-200", "mode": "lexical", "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "lexical" and body["fusion"] is None and body["usage"]["prompt_tokens"] == 0
    hits = body["data"]
    assert [h["id"] for h in hits] == ["code", "phone"]
    assert hits[0]["fields"] == {"title": "X7-200 fast charger", "tags": ["power"]}
    assert hits[0]["media"] == ["image"] and "covers/" not in r.text
    assert hits[0]["details"] == {"lexical": {"rank": 1, "score": hits[0]["score"]}}
    r = client.post("/v1/search", json={"query": {"nickname": "chef anna"}, "mode": "lexical"})
    assert [h["id"] for h in r.json()["data"]] == ["pasta"]
    assert client.get("/health").json()["search_modes"] == ["dense", "lexical", "hybrid"]


def test_hybrid_mode_fuses_like_the_library(make_client, lexical_index, tiny_model):
    from omnivec.index.hybrid import hybrid_search

    client = make_client(index=lexical_index)
    query = {"text": "X7-200 charger"}
    vector = np.asarray(tiny_model.encode(query, task="q2i", side="query"))
    r = client.post("/v1/search", json={"query": query, "mode": "hybrid", "k": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "hybrid" and body["fusion"] == "rrf" and body["candidates"] == 100
    assert body["weights"] == {"dense": 1.0, "lexical": 1.0} and body["usage"]["prompt_tokens"] > 0
    expected = hybrid_search(lexical_index, vector=vector, text=query["text"], k=4)
    assert [(h["id"], h["score"]) for h in body["data"]] == [(h.id, pytest.approx(h.score)) for h in expected]
    assert all(set(h["details"]) <= {"dense", "lexical"} and h["details"] for h in body["data"])

    request = {"query": query, "mode": "hybrid", "k": 4, "fusion": "weighted",
               "weights": {"dense": 0.5, "lexical": 2.0}, "candidates": 5}  # fmt: skip
    r = client.post("/v1/search", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["fusion"] == "weighted" and body["weights"] == {"dense": 0.5, "lexical": 2.0}
    expected = hybrid_search(lexical_index, vector=vector, text=query["text"], k=4, fusion="weighted",
                             weights={"dense": 0.5, "lexical": 2.0}, candidates=5)  # fmt: skip
    assert [h["id"] for h in body["data"]] == [h.id for h in expected] and expected[0].id == "code"


def test_dense_stays_the_default_and_search_mode_changes_it(make_client, lexical_index, media):
    r = make_client(index=lexical_index).post("/v1/search", json={"query": "X7-200", "k": 3})
    assert r.status_code == 200 and r.json()["mode"] == "dense" and r.json()["weights"] is None
    assert all("details" not in h for h in r.json()["data"])

    client = make_client(index=lexical_index, search_mode="hybrid", search_fusion="weighted")
    r = client.post("/v1/search", json={"query": "X7-200", "k": 3})
    assert r.json()["mode"] == "hybrid" and r.json()["fusion"] == "weighted"
    image = media.uri(media.png(), "image/png")
    r = client.post("/v1/search", json={"query": {"image": image}, "k": 3})  # no text: dense
    assert r.status_code == 200 and r.json()["mode"] == "dense"
    r = client.post("/v1/search", json={"query": "X7-200", "mode": "dense"})
    assert r.json()["mode"] == "dense"


def test_errors_name_the_parameter(make_client, lexical_index, fake_index, media):
    image = media.uri(media.png(), "image/png")
    cases = [
        ({"query": "x7", "mode": "sparse"}, 400, "mode", "mode must be one of dense, lexical, hybrid"),
        ({"query": "x7", "mode": "hybrid", "fusion": "max"}, 400, "fusion", "fusion must be one of rrf"),
        (
            {"query": "x7", "mode": "hybrid", "weights": {"bm25": 1}},
            400,
            "weights",
            "unknown key(s) ['bm25']",
        ),
        ({"query": "x7", "mode": "hybrid", "weights": {"dense": -1}}, 400, "weights", "non-negative"),
        ({"query": "x7", "mode": "hybrid", "candidates": 51}, 400, "candidates", "at most 50"),
        ({"query": "x7", "fusion": "rrf"}, 400, "fusion", "apply to mode 'hybrid' only"),
        ({"query": {"image": image}, "mode": "hybrid"}, 400, "mode", "needs query text"),
        ({"query": {"title": "x7", "image": image}, "mode": "lexical"}, 400, "mode", "text only"),
        ({"query": {"title": "x7", "color": "red"}, "mode": "lexical"}, 422, "query.color", "unknown key"),
        ({"query": "x" * 30, "mode": "lexical"}, 422, "query", "max_text_chars=20"),
    ]
    client = make_client(index=lexical_index, max_search_candidates=50, max_text_chars=20)
    for body, status, param, message in cases:
        r = client.post("/v1/search", json=body)
        assert r.status_code == status, (body, r.text)
        assert _err(r)["param"] == param and message in _err(r)["message"], (body, r.text)

    no_lexical = make_client(index=fake_index)
    assert no_lexical.get("/health").json()["search_modes"] == ["dense"]
    for mode in ("lexical", "hybrid"):
        r = no_lexical.post("/v1/search", json={"query": "beach", "mode": mode})
        assert r.status_code == 400 and _err(r)["code"] == "no_lexical_index", r.text
        assert "omnivec index build --lexical" in _err(r)["message"]
    with pytest.raises(ConfigError, match="search_mode 'hybrid' needs an index with a lexical part"):
        make_client(index=fake_index, search_mode="hybrid")


def test_serve_cli_takes_the_search_mode(tiny_model, lexical_index, tmp_path, monkeypatch):
    import typer
    import uvicorn
    from typer.testing import CliRunner

    from omnivec.cli.serve import serve

    tiny_model.save(str(tmp_path / "model"))
    apps = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    cli = typer.Typer()
    cli.command()(serve)
    args = ["--model", str(tmp_path / "model"), "--index", str(lexical_index.path), "--search-mode", "hybrid"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    settings = apps[0].state.omnivec.settings
    assert settings.search_mode == "hybrid" and settings.search_fusion == "rrf"
    bad = CliRunner().invoke(cli, [*args[:4], "--search-mode", "sparse"])
    assert isinstance(bad.exception, ConfigError) and "search_mode must be one of" in str(bad.exception)


def test_health_and_page_offer_the_default_mode(make_client, lexical_index, fake_index):
    """The page preselects ``/health``'s ``search_mode`` in its mode selector (the browser test drives it)."""
    client = make_client(index=lexical_index, search_mode="lexical")
    assert client.get("/health").json()["search_mode"] == "lexical"
    assert make_client(index=fake_index).get("/health").json()["search_mode"] == "dense"
    assert make_client().get("/health").json()["search_mode"] is None  # no index: nothing to search
    page = client.get("/").text
    assert 'data-testid="mode"' in page
    assert all(f'<option value="{mode}"' in page for mode in ("dense", "lexical", "hybrid"))
    script = client.get("/static/app.js").text
    assert "h.search_mode" in script and "mode })" in script  # preselects the default, sends the mode


def test_hybrid_weights_come_from_the_index_router(make_client, tiny_model, tmp_path):
    """weights "auto" (and no weights, once the index has router.json) route each query like the library."""
    from omnivec.index.hybrid import hybrid_search
    from omnivec.index.router import ROUTER_FEATURES, QueryRouter

    folder = tmp_path / "idx"
    index = build_text_index(tiny_model, folder)  # its own index: the test writes router.json beside it
    client = make_client(index=index)
    query = {"text": "guitar X7-200"}
    r = client.post("/v1/search", json={"query": query, "mode": "hybrid", "weights": "auto"})
    assert r.status_code == 400 and _err(r)["code"] == "no_router" and _err(r)["param"] == "weights"
    n = len(ROUTER_FEATURES)  # routes a query with a code to BM25 order, anything else to dense order
    coef = [0.0] * n
    coef[ROUTER_FEATURES.index("has_code")] = 20.0
    QueryRouter(
        coef=coef, intercept=-10.0, mean=[0.0] * n, scale=[1.0] * n, low_share=0.0, high_share=1.0
    ).save(folder)
    for weights in ("auto", None):
        body = {"query": query, "mode": "hybrid", "k": 3} | ({"weights": weights} if weights else {})
        r = client.post("/v1/search", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["weights"] == "auto"
        lexical = hybrid_search(index, text=query["text"], k=3, mode="lexical")
        assert [h["id"] for h in r.json()["data"]] == [h.id for h in lexical]
    vector = np.asarray(tiny_model.encode({"text": "guitar lesson"}, task="q2i", side="query"))
    r = client.post("/v1/search", json={"query": {"text": "guitar lesson"}, "mode": "hybrid", "k": 3})
    assert [h["id"] for h in r.json()["data"]] == [h.id for h in index.search(vector[None], 3)[0]]
    r = client.post(
        "/v1/search", json={"query": query, "mode": "hybrid", "weights": {"dense": 1, "lexical": 1}}
    )
    assert r.json()["weights"] == {"dense": 1.0, "lexical": 1.0}
    r = client.post("/v1/search", json={"query": query, "mode": "hybrid", "weights": "equal"})
    assert r.status_code == 400 and "weights" in r.text
