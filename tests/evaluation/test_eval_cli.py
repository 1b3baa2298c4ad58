from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from omnivec.cli.eval import evaluate
from omnivec.evaluation import tasks as tasks_mod


def test_eval_command_writes_results_and_report(tiny_model, mini_dataset: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(tasks_mod, "RECSYS_MODULE", "omnivec.recsys.no_such_module_for_tests")
    model_dir = tmp_path / "run" / "model"
    tiny_model.save(str(model_dir))
    (tmp_path / "run" / "train_log.jsonl").write_text(
        json.dumps({"stage": "I", "step": 1, "loss": 1.0}) + "\n"
    )
    app = typer.Typer()
    app.command()(evaluate)
    out = tmp_path / "eval"
    res = CliRunner().invoke(
        app,
        ["--model", str(model_dir), "--data", str(mini_dataset), "--tasks", "topic-i2i,topic-cls",
         "--out", str(out), "--batch-size", "8", "--dimensions", "16", "--user-vector", "centred"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "topic-i2i" in res.output and "topic-cls" in res.output and "recall@10" in res.output
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"topic-i2i", "topic-cls", "_meta"} and "topic-q2i" not in results
    assert results["_meta"]["user_vector"] == "centred"
    page = (out / "report.html").read_text()
    assert "<h2>Training</h2>" in page  # MODEL/../train_log.jsonl found by default
    assert "<h2>Embedding map</h2>" in page  # coloured by split: the dataset has no truth/ folder
