"""/v1/embeddings, /v1/models, /health through the ASGI app: inputs of every shape, formats, errors."""

from __future__ import annotations

import base64

import numpy as np
import pytest

MODEL_NAME = "omnivec-tiny"  # what the make_client fixture serves


def _vectors(body: dict) -> np.ndarray:
    rows = []
    for d in body["data"]:
        e = d["embedding"]
        rows.append(np.frombuffer(base64.b64decode(e), "<f4") if isinstance(e, str) else np.asarray(e))
    return np.stack(rows)


def test_string_and_list_inputs_match_offline_encode(make_client, tiny_model):
    client = make_client()
    one = client.post("/v1/embeddings", json={"input": "a cat on a skateboard", "model": MODEL_NAME})
    assert one.status_code == 200
    body = one.json()
    assert body["object"] == "list" and body["model"] == MODEL_NAME
    assert body["data"][0]["object"] == "embedding" and body["data"][0]["index"] == 0
    np.testing.assert_allclose(_vectors(body)[0], tiny_model.encode("a cat on a skateboard"), atol=1e-6)

    texts = ["sunset beach", "pasta recipe", "guitar lesson"]
    many = client.post("/v1/embeddings", json={"input": texts}).json()
    assert [d["index"] for d in many["data"]] == [0, 1, 2]
    np.testing.assert_allclose(_vectors(many), tiny_model.encode(texts), atol=1e-6)
    tok = tiny_model.omni_input.tokenizer
    expected = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
    assert many["usage"] == {"prompt_tokens": expected, "total_tokens": expected}


def test_base64_is_little_endian_float32_of_the_float_answer(make_client):
    client = make_client()
    floats = client.post("/v1/embeddings", json={"input": ["x y z"], "encoding_format": "float"}).json()
    b64 = client.post("/v1/embeddings", json={"input": ["x y z"], "encoding_format": "base64"}).json()
    assert isinstance(b64["data"][0]["embedding"], str)
    raw = base64.b64decode(b64["data"][0]["embedding"])
    assert len(raw) == 4 * len(floats["data"][0]["embedding"])
    np.testing.assert_array_equal(
        np.frombuffer(raw, "<f4"), np.asarray(floats["data"][0]["embedding"], np.float32)
    )


@pytest.mark.parametrize("dims", [8, 16])
def test_dimensions_is_a_renormalised_matryoshka_prefix(make_client, tiny_model, dims):
    client = make_client()
    body = client.post("/v1/embeddings", json={"input": ["a", "b c"], "dimensions": dims}).json()
    vecs = _vectors(body)
    assert vecs.shape == (2, dims)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vecs, tiny_model.encode(["a", "b c"], dimensions=dims), atol=1e-6)


def test_omni_items_with_every_modality(make_client, tiny_model, media):
    image = media.uri(media.png(), "image/png")
    video = media.uri(media.mp4(), "video/mp4")
    audio = media.uri(media.wav(), "audio/wav")
    items = [
        {"title": "beach", "ocr": "SALE", "asr": "hello there", "nickname": "ann", "tags": ["a", "b"]},
        {"image": image},
        {"video": video},
        {"audio": audio},
        {"text": "all of it", "image": image, "video": video, "audio": audio, "id": "x1"},
        {"images": [image, image], "tags": "one tag"},
        {"video": [image, image, image]},  # a video as a list of frame images
    ]
    r = make_client().post("/v1/embeddings", json={"input": items, "task": "q2i", "side": "target"})
    assert r.status_code == 200, r.text
    got = _vectors(r.json())
    assert got.shape == (len(items), tiny_model.dimension)
    ref = tiny_model.encode(items, task="q2i", side="target")
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_task_and_side_change_the_prompt(make_client):
    client = make_client()

    def vec(**kw):
        return _vectors(client.post("/v1/embeddings", json={"input": "dogs in a park", **kw}).json())[0]

    q, t = vec(task="q2i", side="query"), vec(task="q2i", side="target")
    assert not np.allclose(q, t)
    np.testing.assert_allclose(vec(task="q2i"), q, atol=1e-6)  # side defaults to query


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"input": "x", "dimensions": 0}, "dimensions", "between 1 and 32"),
        ({"input": "x", "dimensions": 33}, "dimensions", "between 1 and 32"),
        ({"input": "x", "dimensions": "many"}, "dimensions", "dimensions"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format", "encoding_format"),
        ({"input": "x", "task": "nope"}, "task", "unknown task 'nope'"),
        ({"input": "x", "side": "left"}, "side", "side must be one of"),
        ({"input": []}, "input", "must not be empty"),
        ({"input": 42}, "input", "input must be a string"),
        ({"inputs": "x"}, "input", "input"),
        ({"input": "x", "temperature": 1}, "temperature", "unknown parameter 'temperature'"),
    ],
)
def test_bad_parameters_answer_400_naming_the_parameter(make_client, body, param, fragment):
    r = make_client().post("/v1/embeddings", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param
    assert fragment in err["message"]


def test_malformed_json_and_non_object_bodies_answer_400(make_client):
    client = make_client()
    for content in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        r = client.post("/v1/embeddings", content=content, headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "invalid_json"


def test_unknown_model_is_404(make_client):
    r = make_client().post("/v1/embeddings", json={"input": "x", "model": "text-embedding-3-small"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found" and r.json()["error"]["param"] == "model"


def test_too_many_items_is_400(make_client):
    r = make_client(max_request_items=3).post("/v1/embeddings", json={"input": ["a"] * 4})
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_many_items"


def test_models_and_health(make_client, fake_index):
    client = make_client(index=fake_index)
    models = client.get("/v1/models").json()
    card = models["data"][0]
    assert models["object"] == "list" and card["id"] == MODEL_NAME and card["object"] == "model"
    assert card["dimensions"] == 32 and card["matryoshka_dimensions"] == [8, 16, 32]
    assert set(card["modalities"]) == {"text", "image", "video", "audio"}
    assert client.get(f"/v1/models/{MODEL_NAME}").json()["id"] == MODEL_NAME
    assert client.get("/v1/models/other").status_code == 404
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["index"] == {"size": fake_index.size, "dim": 16}


def test_unknown_route_and_method_answer_json_errors(make_client):
    client = make_client()
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = client.get("/v1/embeddings")
    assert r.status_code == 405 and "error" in r.json()


def test_an_item_over_max_seq_length_is_refused_before_it_can_fail_a_batch(make_client, slow_model):
    model = slow_model(0.0)
    model.omni_input.max_seq_length = 40
    client = make_client(model=model)
    assert client.post("/v1/embeddings", json={"input": ["short"]}).status_code == 200
    r = client.post("/v1/embeddings", json={"input": ["short", "word " * 60]})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["param"] == "input[1]" and "max_seq_length 40" in err["message"]
