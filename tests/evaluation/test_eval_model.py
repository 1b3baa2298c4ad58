"""The runner and the training-time evaluator with a real (tiny, random) omnivec model on a dataset folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from omnivec.evaluation import tasks as tasks_mod
from omnivec.evaluation.embedders import Embedder, OmniEmbedder
from omnivec.evaluation.evaluator import WorldEvaluator
from omnivec.evaluation.tasks import evaluate


@pytest.fixture(autouse=True)
def _no_recsys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks_mod, "RECSYS_MODULE", "omnivec.recsys.no_such_module_for_tests")


def test_omni_embedder_rows_and_failures(tiny_model, mini_dataset: Path) -> None:
    emb = OmniEmbedder(tiny_model, batch_size=4, dimensions=16)
    assert isinstance(emb, Embedder)
    items = [
        {"id": "a", "title": "hello"},
        {"id": "bad", "image": str(mini_dataset / "nope.png")},
        {"text": "x"},
    ]
    out = emb.embed(items, task="i2i", side="query")
    assert out.shape == (3, 16) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out[[0, 2]], axis=1), 1.0, atol=1e-5)
    assert not out[1].any()  # the bad item is a zero row, in place
    assert len(emb.errors) == 1 and "'bad'" in emb.errors[0]


def test_runner_with_tiny_model_on_dataset_folder(tiny_model, mini_dataset: Path) -> None:
    res = evaluate(OmniEmbedder(tiny_model, batch_size=8), mini_dataset, progress=False)
    meta = res["_meta"]
    assert set(meta["n_queries"]) == {"topic-i2i", "topic-q2i", "pair-q2i", "topic-cls", "next-seq"}
    assert {"recall@1", "recall@10", "recall@100", "ndcg@10", "mrr", "pos_neg_auc"} <= set(res["topic-i2i"])
    assert "topic-i2i/cold" in res
    assert {"auc", "pos_cos", "neg_cos", "spearman"} <= set(res["pair-q2i"])
    assert {"accuracy", "recall@2"} <= set(res["topic-cls"])
    assert res["topic-cls"]["accuracy"] <= res["topic-cls"]["recall@2"]
    assert {"recall@1", "recall@10"} <= set(res["next-seq"])
    # recall@k with k >= the corpus is 1 for every query whose item embedded
    assert res["topic-q2i"]["recall@100"] == 1.0
    # the item with a missing image file is reported for each prompt it was embedded under, never dropped
    assert meta["skipped_items"]["count"] >= 1
    assert any("coo0" in s for s in meta["skipped_items"]["items"])
    assert any("missing.png" in e for e in meta["skipped_items"]["errors"])
    json.dumps(res)  # plain JSON types only


def test_world_evaluator(tiny_model, mini_dataset: Path, tmp_path: Path) -> None:
    ev = WorldEvaluator(mini_dataset, tasks=["topic-i2i", "topic-cls"], max_queries=5, batch_size=8)
    out = ev(tiny_model, output_path=str(tmp_path), epoch=1, steps=10)
    assert ev.primary_metric == "average" and "average" in out
    assert {"topic-i2i_recall@10", "topic-i2i_mrr", "topic-cls_accuracy"} <= set(out)
    assert not any("/cold" in k for k in out)
    assert all(isinstance(v, float) for v in out.values())
    assert out["average"] == pytest.approx((out["topic-i2i_recall@10"] + out["topic-cls_accuracy"]) / 2)
    assert (tmp_path / "world_eval.jsonl").is_file()
    named = WorldEvaluator(mini_dataset, tasks=["topic-cls"], max_queries=3, name="mini")
    out = named(tiny_model)
    assert named.primary_metric == "mini_average" and "mini_topic-cls_accuracy" in out
    with pytest.raises(Exception, match="no-such"):
        WorldEvaluator(mini_dataset, tasks=["no-such"])
