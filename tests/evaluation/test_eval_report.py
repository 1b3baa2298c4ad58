from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import RandomEmbedder

from omnivec.evaluation import tasks as tasks_mod
from omnivec.evaluation.plots import pca_2d
from omnivec.evaluation.report import format_value, item_labels, normalise_results, write_report
from omnivec.evaluation.tasks import evaluate


def _strict_json(path: Path) -> object:
    def no_constants(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=no_constants)


def _images(page: str) -> int:
    return len(re.findall(r"src='data:image/png;base64,[A-Za-z0-9+/=]+'", page))


@pytest.fixture
def results(tiny_world: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr(tasks_mod, "RECSYS_MODULE", "omnivec.recsys.no_such_module_for_tests")
    tasks = ["content-i2i", "search-q2i", "score-q2i-cls", "cls-l1"]
    return evaluate(RandomEmbedder(), tiny_world, tasks, progress=False)


def test_single_model_report_is_self_contained(results: dict, tiny_world: Path, tmp_path: Path) -> None:
    results["content-i2i"]["odd"] = float("nan")  # must become null in results.json, "–" in the page
    log = tmp_path / "run" / "train_log.jsonl"
    log.parent.mkdir()
    records = [{"stage": "I", "step": s, "loss": 2.0 / (s + 1)} for s in range(0, 30, 5)]
    records += [
        {"stage": "II", "step": s, "loss": 0.5 / (s + 1), "eval_average": 0.1 * s} for s in range(0, 20, 5)
    ]
    log.write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n")
    ids = [f"i{i:07d}" for i in range(200)]
    labels = item_labels(tiny_world, ids)
    assert labels is not None and len(set(labels)) > 3  # the world's L1 topics
    emb = np.random.default_rng(0).standard_normal((200, 8))
    path = write_report(
        results, tmp_path / "out", train_logs=[log], embeddings_for_map=(emb, labels), title="T"
    )
    page = path.read_text()
    data = _strict_json(tmp_path / "out" / "results.json")
    assert data["content-i2i"]["odd"] is None
    assert data["content-i2i"]["recall@50"] == pytest.approx(results["content-i2i"]["recall@50"])
    assert not re.search(r"(src|href)\s*=\s*['\"]?\s*(https?:)?//", page)
    assert "http" not in page
    for task in ("content-i2i", "content-i2i/cold", "search-q2i", "score-q2i-cls", "cls-l1"):
        assert task in page
    assert format_value("recall@50", results["content-i2i"]["recall@50"]) in page
    assert format_value("auc", results["score-q2i-cls"]["auc"]) in page
    assert format_value("pos_cos", results["search-q2i"]["pos_cos"]) in page
    assert _images(page) == 4  # recall curves, similarity, training, embedding map


def test_multi_model_report(results: dict, tmp_path: Path) -> None:
    other = json.loads(json.dumps(results))
    other["_meta"]["embedder"] = "better"
    other["content-i2i"]["recall@50"] = 0.987654
    multi = {"models": {"random": results, "better": other}}
    assert list(normalise_results(multi)) == ["random", "better"]
    assert list(normalise_results(results)) == ["random"]
    moved = {
        "models": {"random": {k: v for k, v in results.items() if k != "_meta"}},
        "meta": {"random": results["_meta"]},
    }
    assert normalise_results(moved)["random"]["_meta"] is results["_meta"]
    page = write_report(multi, tmp_path).read_text()
    assert "<th>random</th>" in page and "<th>better</th>" in page
    assert "<b>98.77</b>" in page  # best value of the row in bold
    assert _images(page) == 2  # no logs, no map given
    assert _strict_json(tmp_path / "results.json")["models"]["better"]["content-i2i"]["recall@50"] == 0.987654


def test_format_and_pca() -> None:
    assert format_value("recall@10", 0.12345) == "12.35"
    assert format_value("pos_cos", 0.12345) == "0.1235"
    assert format_value("auc", float("nan")) == "–"
    assert format_value("auc_match", 0.61234) == "61.23"
    assert format_value("n_rows", 2400.0) == "2400"
    x = np.random.default_rng(0).standard_normal((50, 6)) * np.array([5, 3, 0.1, 0.1, 0.1, 0.1])
    xy = pca_2d(x)
    assert xy.shape == (50, 2)
    assert xy[:, 0].var() > xy[:, 1].var() > 0.5  # the two large axes survive, in order
