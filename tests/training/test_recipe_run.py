"""Recipes fail early naming the key; a run trains every stage; a killed run resumes identically."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import omnivec
from omnivec.errors import ConfigError, DataFormatError
from omnivec.training.data import TrainingData
from omnivec.training.recipe import load_recipe, recipe_from_dict
from omnivec.training.run import RunLogger, train_recipe, validate_recipe


def _recipe(world, out, **extra):
    raw = {
        "name": "t", "data": str(world), "output_dir": str(out), "model": {"arch": "tiny"},
        "batch_size": 8, "logging_steps": 1, "save_steps": 2, "seed": 3,
        "losses": {"weights": {"nce_mrl": 1.0, "cosent": 0.5}},
        "stages": [
            {"name": "one", "sources": ["copair-i2i", "search-q2i", "score-q2i", "cls"], "steps": 4, "lr": 1e-3},
            {"name": "two", "sources": ["copair-i2i", "search-q2i"], "steps": 2, "lr": 5e-4,
             "hard_negatives": {"k": 2}},
        ],
    }  # fmt: skip
    raw.update(extra)
    return recipe_from_dict(raw)


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"stages": [{"name": "s", "sources": ["nope"], "steps": 1}]}, "stages[0].sources[0]"),
        (
            {"stages": [{"name": "s", "sources": ["cls"], "weights": {"cls": -1}, "steps": 1}]},
            "stages[0].weights",
        ),
        (
            {"stages": [{"name": "s", "sources": ["cls"], "steps": 1, "losses": {"bogus": 1}}]},
            "stages[0].losses.bogus",
        ),
        (
            {"stages": [{"name": "s", "sources": ["cls"], "steps": 1, "hard_negatives": {"k": 2}}]},
            "hard_negatives",
        ),
        ({"losses": {"temperatures": {"ghost": 0.1}}}, "losses.temperatures.ghost"),
    ],
)
def test_bad_recipes_fail_before_training_naming_the_key(tiny_world, tmp_path, patch, key):
    recipe = _recipe(tiny_world, tmp_path, **patch)
    with pytest.raises(ConfigError) as info:
        validate_recipe(recipe, TrainingData(tiny_world))
    assert key in str(info.value)


def test_recipe_schema_errors_name_the_key(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "data": ".", "output_dir": "o",
                                    "stages": [{"name": "s", "steps": 1, "epochs": 2}]}))  # fmt: skip
    with pytest.raises(ConfigError, match=r"stages\.0"):
        load_recipe(path)
    path.write_text(
        yaml.safe_dump({"name": "x", "data": ".", "output_dir": "o", "batch_size": 0, "stages": []})
    )
    with pytest.raises(ConfigError, match="batch_size"):
        load_recipe(path)
    path.write_text(yaml.safe_dump({"name": "x", "data": ".", "output_dir": "o",
                                    "stages": [{"name": "s", "steps": 1, "source_schedule": "zigzag"}]}))  # fmt: skip
    with pytest.raises(ConfigError, match=r"stages\.0\.source_schedule.*'zigzag'"):
        load_recipe(path)


def test_smooth_schedule_deals_a_short_stage_its_exact_mix(tiny_world, tmp_path):
    """Three equally weighted sources over 6 steps: 'smooth' gives each exactly 2 batches (i.i.d. draws rarely
    do), and the stage record says which mix it trained on."""
    import json

    stage = {"name": "one", "sources": ["copair-i2i", "search-q2i", "cls"], "weights": "uniform", "steps": 6,
             "lr": 1e-3, "source_schedule": "smooth"}  # fmt: skip
    messages: list[str] = []
    train_recipe(_recipe(tiny_world, tmp_path, stages=[stage]), progress=False, echo=messages.append)
    record = json.loads((tmp_path / "stages.json").read_text())[0]
    assert record["source_batches"] == {"copair-i2i": 2, "search-q2i": 2, "cls": 2}
    assert any(m.startswith("  batches per source: ") and "cls 2" in m for m in messages)


def test_missing_column_fails_naming_file_and_column(tiny_world, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    copy = tmp_path / "w"
    shutil.copytree(tiny_world, copy)
    table = pq.read_table(copy / "sources" / "cls.parquet").drop_columns(["target_text"])
    pq.write_table(table, copy / "sources" / "cls.parquet")
    with pytest.raises(DataFormatError, match=r"cls\.parquet: missing column 'target_text'"):
        validate_recipe(_recipe(copy, tmp_path / "o"), TrainingData(copy))


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_model(tiny_world, tmp_path, monkeypatch):
    items = [TrainingData(tiny_world).store.item(i) for i in TrainingData(tiny_world).store.ids[:6]]
    straight = train_recipe(_recipe(tiny_world, tmp_path / "a"), progress=False, echo=lambda s: None)
    expected = omnivec.load(straight).encode(items)

    class Killed(RuntimeError):
        pass

    def boom(self, args, state, control, **kwargs):
        if self.stage == "one" and state.global_step == 3:
            raise Killed

    monkeypatch.setattr(RunLogger, "on_step_end", boom, raising=False)
    with pytest.raises(Killed):
        train_recipe(_recipe(tiny_world, tmp_path / "b"), progress=False, echo=lambda s: None)
    assert (tmp_path / "b" / "stage1-one" / "checkpoint-2").is_dir()
    assert not (tmp_path / "b" / "stage1-one" / "final").exists()
    monkeypatch.undo()
    messages: list[str] = []
    resumed = train_recipe(_recipe(tiny_world, tmp_path / "b"), progress=False, echo=messages.append)
    got = omnivec.load(resumed).encode(items)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    log = (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()
    assert any('"temperatures"' in line for line in log)
    assert any("mined copair-i2i" in m for m in messages)
    assert (tmp_path / "b" / "run.json").is_file()
