"""The official ``openai`` client against a live server on 127.0.0.1: default (base64) call, float, base64,
``dimensions``, omni items and extensions through ``extra_body``, models, auth and error classes."""

from __future__ import annotations

import base64

import numpy as np
import pytest

openai = pytest.importorskip("openai")

KEY = "sk-live-test"
MODEL = "omnivec-tiny"
TEXTS = ["sunset over the beach", "fresh pasta recipe", "guitar lesson"]


@pytest.fixture
def server(tiny_model, live_server):
    from omnivec.serve import ServeSettings, create_app

    app = create_app(tiny_model, settings=ServeSettings(model_name=MODEL, api_keys=(KEY,)))
    return live_server(app)


def _client(server, key: str = KEY):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=20)


def test_default_call_float_and_base64_agree_with_offline_encode(server, tiny_model):
    client = _client(server)
    ref = tiny_model.encode(TEXTS)
    default = client.embeddings.create(model=MODEL, input=TEXTS)  # the client asks for base64 and decodes it
    assert default.model == MODEL and default.object == "list"
    got = np.array([d.embedding for d in default.data])
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert default.usage.prompt_tokens == default.usage.total_tokens > 0

    floats = client.embeddings.create(model=MODEL, input=TEXTS, encoding_format="float")
    np.testing.assert_allclose(np.array([d.embedding for d in floats.data]), ref, atol=1e-6)

    b64 = client.embeddings.create(model=MODEL, input=TEXTS, encoding_format="base64")
    raw = [np.frombuffer(base64.b64decode(d.embedding), "<f4") for d in b64.data]  # left encoded
    np.testing.assert_array_equal(np.stack(raw), np.array([d.embedding for d in floats.data], np.float32))

    single = client.embeddings.create(model=MODEL, input="sunset over the beach")
    np.testing.assert_allclose(single.data[0].embedding, ref[0], atol=1e-6)


@pytest.mark.parametrize("dims", [8, 16])
def test_dimensions(server, tiny_model, dims):
    resp = _client(server).embeddings.create(model=MODEL, input=TEXTS, dimensions=dims)
    got = np.array([d.embedding for d in resp.data])
    assert got.shape == (3, dims)
    np.testing.assert_allclose(got, tiny_model.encode(TEXTS, dimensions=dims), atol=1e-6)


def test_omni_items_and_extensions(server, tiny_model, media):
    items = [
        {"title": "beach", "tags": ["travel"], "image": media.uri(media.png(), "image/png")},
        {"text": "a tune", "audio": media.uri(media.wav(), "audio/wav")},
        {"video": media.uri(media.mp4(), "video/mp4"), "asr": "hello"},
    ]
    client = _client(server)
    resp = client.embeddings.create(model=MODEL, input=items)  # type: ignore[arg-type]
    np.testing.assert_allclose(
        np.array([d.embedding for d in resp.data]), tiny_model.encode(items), atol=1e-5
    )
    ext = client.embeddings.create(
        model=MODEL,
        input=items,  # type: ignore[arg-type]
        extra_body={"task": "q2i", "side": "target"},
        dimensions=16,
    )
    np.testing.assert_allclose(
        np.array([d.embedding for d in ext.data]),
        tiny_model.encode(items, task="q2i", side="target", dimensions=16),
        atol=1e-5,
    )


def test_models_auth_and_error_classes(server):
    client = _client(server)
    assert [m.id for m in client.models.list()] == [MODEL]
    with pytest.raises(openai.AuthenticationError):
        _client(server, key="wrong").embeddings.create(model=MODEL, input="x")
    with pytest.raises(openai.UnprocessableEntityError) as info:
        client.embeddings.create(model=MODEL, input=[{"title": "ok"}, {"image": "https://example.com/a.png"}])  # type: ignore[list-item]
    assert "item 1" in str(info.value) and "image" in str(info.value)
    with pytest.raises(openai.BadRequestError, match="dimensions"):
        client.embeddings.create(model=MODEL, input="x", dimensions=999)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="x")
