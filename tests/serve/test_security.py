"""Security and limits: API keys, body size, per-item media limits, the media-root rule, no stack traces."""

from __future__ import annotations

import os

import numpy as np
import pytest

KEY = "sk-test-123"


def _err(r) -> dict:
    return r.json()["error"]


# ------------------------------------------------------------------------------- auth
def test_api_keys_guard_v1_routes_only(make_client):
    client = make_client(api_keys=("other", KEY))
    body = {"input": "x"}
    r = client.post("/v1/embeddings", json=body)
    assert r.status_code == 401
    assert _err(r)["type"] == "authentication_error" and _err(r)["code"] == "missing_api_key"
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = client.post("/v1/embeddings", json=body, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and _err(r)["code"] == "invalid_api_key"
    r = client.post("/v1/embeddings", json=body, headers={"Authorization": f"Basic {KEY}"})
    assert r.status_code == 401
    for key in (KEY, "other"):
        r = client.post("/v1/embeddings", json=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200
    assert client.get("/v1/models").status_code == 401
    # the page, its assets, health and metrics stay public
    for path in ("/", "/static/app.js", "/health", "/metrics"):
        assert client.get(path).status_code == 200, path


def test_auth_is_checked_before_the_body_is_read(make_client):
    client = make_client(api_keys=(KEY,), max_body_bytes=100)
    r = client.post("/v1/embeddings", content=b"x" * 1000, headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_api_keys_from_a_comma_separated_string():
    from omnivec.serve import ServeSettings

    assert ServeSettings(api_keys="a, b,,c").api_keys == ("a", "b", "c")


# ------------------------------------------------------------------------- body size
def test_body_over_the_limit_is_413_with_and_without_content_length(make_client):
    client = make_client(max_body_bytes=2_000)
    big = {"input": "word " * 1_000}
    r = client.post("/v1/embeddings", json=big)
    assert r.status_code == 413 and _err(r)["code"] == "body_too_large"

    def chunks():
        for _ in range(10):
            yield b" " * 500

    r = client.post("/v1/embeddings", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    assert r.status_code == 413 and _err(r)["code"] == "body_too_large"
    assert client.post("/v1/embeddings", json={"input": "small"}).status_code == 200


# ------------------------------------------------------------------- item-level limits
@pytest.mark.parametrize(
    ("item", "settings", "field", "code"),
    [
        ({"title": "x", "color": "red"}, {}, "color", "unknown_field"),
        ({"title": 5}, {}, "title", "invalid_item"),
        ({"tags": [1, 2]}, {}, "tags", "invalid_item"),
        ({"image": {"url": "x"}}, {}, "image", "invalid_item"),
        ({"audio": [0.1, 0.2]}, {}, "audio", "invalid_item"),
        ({"images": "data:image/png;base64,AAAA"}, {}, "images", "invalid_item"),
        ({"sampling_rate": 16000, "text": "x"}, {}, "sampling_rate", "unknown_field"),
        ({}, {}, None, "empty_item"),
        ({"text": "   "}, {}, None, "empty_item"),
        ({"image": "data:image/png;base64,@@@"}, {}, "image", "media_decode_error"),
        ({"image": "data:image/png;base64,aGVsbG8="}, {}, "image", "media_decode_error"),
        ({"video": "data:video/mp4;base64,aGVsbG8="}, {}, "video", "media_decode_error"),
        ({"audio": "data:audio/wav;base64,aGVsbG8="}, {}, "audio", "media_decode_error"),
        ({"text": "x" * 101}, {"max_text_chars": 100}, "text", "media_limit_exceeded"),
        ("PNG", {"max_pixels": 1000}, "image", "media_limit_exceeded"),
        ("PNG", {"max_bytes": 50}, "image", "media_limit_exceeded"),
        ("MP4", {"max_frames": 3}, "video", "media_limit_exceeded"),
        ("WAV", {"max_audio_seconds": 0.5}, "audio", "media_limit_exceeded"),
        ("IMAGES", {"max_images": 2}, "images", "media_limit_exceeded"),
        ({"image": "https://example.com/cat.png"}, {}, "image", "invalid_item"),
        ({"video": "file:///etc/passwd"}, {}, "video", "invalid_item"),
        ({"audio": "/etc/passwd"}, {}, "audio", "invalid_item"),
    ],
)
def test_bad_items_answer_422_naming_item_and_field(make_client, media, item, settings, field, code):
    if item == "PNG":
        item = {"image": media.uri(media.png(size=(48, 36)), "image/png")}
    elif item == "MP4":
        item = {"video": media.uri(media.mp4(n_frames=4), "video/mp4")}
    elif item == "WAV":
        item = {"audio": media.uri(media.wav(seconds=1.0), "audio/wav")}
    elif item == "IMAGES":
        item = {"images": [media.uri(media.png(), "image/png")] * 3}
    good = {"title": "a good item"}
    r = make_client(**settings).post("/v1/embeddings", json={"input": [good, good, item]})
    assert r.status_code == 422, r.text
    err = _err(r)
    assert err["type"] == "invalid_request_error" and err["code"] == code
    assert err["param"] == (f"input[2].{field}" if field else "input[2]")
    assert err["message"].startswith("item 2")
    assert err["errors"][0]["index"] == 2 and err["errors"][0]["field"] == field
    assert "Traceback" not in r.text and 'File "' not in r.text


def test_every_bad_item_is_listed(make_client):
    r = make_client().post("/v1/embeddings", json={"input": ["ok", {"x": 1}, "", {"title": 3}]})
    assert r.status_code == 422
    assert [(e["index"], e["field"]) for e in _err(r)["errors"]] == [(1, "x"), (2, None), (3, "title")]
    assert "and 2 more" in _err(r)["message"]


def test_token_id_arrays_are_refused_clearly(make_client):
    r = make_client().post("/v1/embeddings", json={"input": [[1, 2, 3]]})
    assert r.status_code == 422 and "token id arrays are not supported" in _err(r)["message"]


# ------------------------------------------------------------------------ media root
def test_paths_are_refused_without_a_media_root(make_client, media_root):
    inside = str(media_root / "covers" / "beach.png")
    r = make_client().post("/v1/embeddings", json={"input": [{"image": inside}]})
    assert r.status_code == 422 and "local paths are not allowed" in _err(r)["message"]


def test_media_root_allows_only_paths_inside_it(make_client, media_root, tiny_model):
    client = make_client(media_root=media_root)
    ok = client.post(
        "/v1/embeddings", json={"input": [{"image": "covers/beach.png"}, {"video": "clips/guitar.mp4"}]}
    )
    assert ok.status_code == 200, ok.text
    absolute = client.post(
        "/v1/embeddings", json={"input": [{"image": str(media_root / "covers" / "beach.png")}]}
    )
    assert absolute.status_code == 200
    np.testing.assert_allclose(
        absolute.json()["data"][0]["embedding"], ok.json()["data"][0]["embedding"], atol=1e-6
    )
    outside = media_root.parent / "secret.png"
    for path in ("../secret.png", str(outside), "covers/link.png", "covers/../../secret.png", "/etc/passwd"):
        r = client.post("/v1/embeddings", json={"input": [{"image": path}]})
        assert r.status_code == 422, path
        assert _err(r)["param"] == "input[0].image"
        assert "outside the media root" in _err(r)["message"], path
    r = client.post("/v1/embeddings", json={"input": [{"image": "covers/missing.png"}]})
    assert r.status_code == 422 and _err(r)["code"] == "media_decode_error"
    r = client.post("/v1/embeddings", json={"input": [{"image": "http://127.0.0.1:1/x.png"}]})
    assert r.status_code == 422 and "URLs are not fetched" in _err(r)["message"]


def test_media_root_must_exist(tmp_path):
    from pydantic import ValidationError

    from omnivec.serve import ServeSettings

    with pytest.raises(ValidationError, match="not a directory"):
        ServeSettings(media_root=tmp_path / "nope")


# ------------------------------------------------------------------ no stack traces
def test_internal_errors_answer_500_without_details(make_client, slow_model, caplog):
    model = slow_model(0.0)

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/model.py line 7")

    model.encode_items = broken
    client = make_client(model=model)
    with caplog.at_level("ERROR", logger="omnivec.serve"):
        r = client.post("/v1/embeddings", json={"input": "x"})
    assert r.status_code == 500
    assert _err(r)["type"] == "server_error"
    assert "secret" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
    assert any(
        "secret internals" in (rec.exc_text or "") or "batch failed" in rec.message for rec in caplog.records
    )
    assert client.post("/v1/embeddings", json={"input": "y"}).status_code == 500  # the worker lives on
    assert client.get("/health").status_code == 200


def test_security_headers(make_client):
    client = make_client()
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    api = client.get("/v1/models")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert os.path.basename(client.get("/static/app.css").request.url.path) == "app.css"


def test_a_stalled_body_upload_gets_408(tiny_model, live_server):
    import socket

    from omnivec.serve import ServeSettings, create_app

    server = live_server(create_app(tiny_model, settings=ServeSettings(request_timeout_s=0.5)))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        head = "POST /v1/embeddings HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        sock.sendall(head.encode() + b'{"input": ')  # ... and never the rest
        answer = b""
        while b"}}" not in answer:  # the status line and the JSON body may come in separate segments
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    answer = answer.decode()
    assert answer.startswith("HTTP/1.1 408"), answer
    assert '"code":"body_timeout"' in answer, answer
