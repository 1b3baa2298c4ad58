"""/metrics: Prometheus text with request counts by route template and status, queue depth and batch sizes."""

from __future__ import annotations

import re


def _value(text: str, sample: str) -> float:
    match = re.search(re.escape(sample) + r" ([0-9.e+]+)", text)
    assert match, f"{sample} not in /metrics"
    return float(match.group(1))


def test_prometheus_metrics(make_client, fake_index):
    client = make_client(index=fake_index, api_keys=("k",))
    auth = {"Authorization": "Bearer k"}
    for _ in range(3):
        assert client.post("/v1/embeddings", json={"input": ["a", "b"]}, headers=auth).status_code == 200
    assert client.post("/v1/embeddings", json={"input": [{"nope": 1}]}, headers=auth).status_code == 422
    assert client.post("/v1/embeddings", json={"input": "x"}).status_code == 401
    assert client.post("/v1/search", json={"query": "beach"}, headers=auth).status_code == 200
    for i in range(5):
        client.get(f"/random/{i}")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    route = 'omnivec_requests_total{method="POST",route="/v1/embeddings",status="%s"}'
    assert _value(text, route % "200") == 3
    assert _value(text, route % "422") == 1
    assert _value(text, route % "401") == 1  # counted under its route though refused before routing
    assert _value(text, 'omnivec_requests_total{method="GET",route="unmatched",status="404"}') == 5
    assert "/random/" not in text  # raw paths never become label values
    assert _value(text, "omnivec_embedded_items_total") == 7  # 3 x 2 + 1 search query
    assert _value(text, "omnivec_batch_items_count") >= 4
    assert _value(text, 'omnivec_request_duration_seconds_count{route="/v1/search"}') == 1
    assert _value(text, "omnivec_queue_items") == 0
    assert "omnivec_pending_requests" in text and "omnivec_batch_tokens_bucket" in text
