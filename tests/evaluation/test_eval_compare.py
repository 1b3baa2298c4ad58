"""Paired comparisons of two models: per-query values equal the reported metrics, and the bootstrap
intervals behave on hand-made cases (identical models → 0, a clear winner → an interval above 0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eval_helpers import RandomEmbedder

from omnivec.errors import ConfigError
from omnivec.evaluation.compare import compare_models, paired_auc_difference
from omnivec.evaluation.metrics import auc
from omnivec.evaluation.tasks import evaluate


def test_per_query_values_average_to_the_reported_metrics(tiny_world: Path) -> None:
    res = evaluate(RandomEmbedder(), tiny_world, ["content-i2i", "search-q2i", "score-q2i-cls"], progress=False,
                   per_query=True)  # fmt: skip
    per_query = res["_meta"]["per_query"]
    assert set(per_query) == {"content-i2i", "search-q2i", "score-q2i-cls"}
    for task in ("content-i2i", "search-q2i"):
        assert len(per_query[task]["recall@50"]) == res["_meta"]["n_queries"][task]
        for metric, values in per_query[task].items():
            assert float(np.mean(values)) == pytest.approx(res[task][metric]), (task, metric)
    pairs = per_query["score-q2i-cls"]
    assert auc(pairs["score"], pairs["label"]) == pytest.approx(res["score-q2i-cls"]["auc"])
    assert "per_query" not in evaluate(RandomEmbedder(), tiny_world, ["content-i2i"], progress=False)["_meta"]


def test_ctr_and_id_i2i_per_query_values_give_the_reported_metrics(tiny_world: Path) -> None:
    res = evaluate(RandomEmbedder(), tiny_world, ["ctr", "id-i2i"], progress=False, per_query=True)
    ids = res["_meta"]["per_query"]["id-i2i"]
    assert len(ids["recall@50"]) == res["id-i2i"]["n_queries"]
    assert float(np.mean(ids["recall@50"])) == pytest.approx(res["id-i2i"]["recall@50"])
    for metric in ("kendall_tau", "topk_intersection"):  # Table 4's per-query consistency metrics
        assert len(ids[metric]) == len(ids["recall@50"])
        assert float(np.mean(ids[metric])) == pytest.approx(res["id-i2i"][metric])
    rows = res["_meta"]["per_query"]["ctr"]
    assert len(rows["score"]) == len(rows["label"]) == res["ctr"]["n_rows"]
    assert auc(rows["score"], rows["label"]) == pytest.approx(res["ctr"]["auc_match"])
    # two embeddings share the impressions: the AUC difference is the difference of their CTR gains
    other = evaluate(RandomEmbedder(dim=16), tiny_world, ["ctr"], progress=False, per_query=True)
    out = compare_models(
        {"a": res["_meta"]["per_query"], "b": other["_meta"]["per_query"]}, "a", ["b"], n_boot=50
    )
    gain_diff = res["ctr"]["gain_match"] - other["ctr"]["gain_match"]
    assert out["b"]["ctr"]["metric"] == "auc" and out["b"]["ctr"]["difference"] == pytest.approx(gain_diff)
    # extra metrics of a task get their own rows, keyed "<task>:<metric>"
    other = evaluate(RandomEmbedder(dim=16), tiny_world, ["id-i2i"], progress=False, per_query=True)
    pq = {"a": res["_meta"]["per_query"], "b": other["_meta"]["per_query"], "a2": res["_meta"]["per_query"]}
    out = compare_models(pq, "a", ["b", "a2"], extra_metrics={"id-i2i": ["kendall_tau"]}, n_boot=50)
    tau = out["b"]["id-i2i:kendall_tau"]
    assert tau["metric"] == "kendall_tau" and tau["queries"] == len(ids["kendall_tau"])
    assert tau["difference"] == pytest.approx(res["id-i2i"]["kendall_tau"] - other["id-i2i"]["kendall_tau"])
    assert tau["low"] <= tau["difference"] <= tau["high"]
    assert out["a2"]["id-i2i:kendall_tau"]["difference"] == 0.0 and "id-i2i:topk_intersection" not in out["b"]


def test_paired_auc_difference_on_hand_made_pairs() -> None:
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(100), np.zeros(100)]
    good = labels + rng.normal(0, 0.3, 200)  # separates the classes well
    noise = rng.normal(0, 1, 200)
    d, lo, hi = paired_auc_difference(good, noise, labels, n_boot=300)
    assert d == pytest.approx(auc(good, labels) - auc(noise, labels)) and 0 < lo < d < hi
    assert paired_auc_difference(noise, noise, labels, n_boot=50) == (0.0, 0.0, 0.0)
    with pytest.raises(ConfigError, match="both positive and negative"):
        paired_auc_difference(good, noise, np.ones(200))
    with pytest.raises(ConfigError, match="scores"):
        paired_auc_difference(good[:10], noise, labels)


def test_compare_models_per_task() -> None:
    labels = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    per_query = {
        "a": {"t-i2i": {"recall@50": np.array([1.0, 1.0, 0.0, 1.0])},
              "p-q2i": {"score": np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3]), "label": labels},
              "only-a": {"recall@50": np.array([1.0])}},
        "b": {"t-i2i": {"recall@50": np.array([0.0, 1.0, 0.0, 0.0])},
              "p-q2i": {"score": np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.7]), "label": labels}},
    }  # fmt: skip
    out = compare_models(per_query, "a", ["b"], n_boot=200)
    assert set(out["b"]) == {"t-i2i", "p-q2i"}  # a task the other model lacks is skipped
    row = out["b"]["t-i2i"]
    assert row["metric"] == "recall@50" and row["queries"] == 4 and row["difference"] == pytest.approx(0.5)
    assert row["low"] <= 0.5 <= row["high"]
    pair = out["b"]["p-q2i"]
    assert pair["metric"] == "auc" and pair["difference"] == pytest.approx(1.0) and pair["queries"] == 6
    with pytest.raises(ConfigError, match="'c'"):
        compare_models(per_query, "a", ["c"])
