"""Learning happens: the small architecture trained with a short SAIL recipe beats the untrained model."""

from __future__ import annotations

import pytest

import omnivec
from omnivec.evaluation.embedders import OmniEmbedder
from omnivec.evaluation.tasks import evaluate
from omnivec.training.recipe import recipe_from_dict
from omnivec.training.run import train_recipe

TASKS = ["search-q2i", "content-i2i", "copair-i2i"]


@pytest.mark.slow
def test_small_model_learns_q2i_and_i2i(tiny_world, tmp_path):
    untrained = evaluate(OmniEmbedder(omnivec.build("small", seed=0), name="untrained"), tiny_world,
                         tasks=TASKS, progress=False)  # fmt: skip
    recipe = recipe_from_dict({
        "name": "learn", "data": str(tiny_world), "output_dir": str(tmp_path / "run"), "model": {"arch": "small"},
        "batch_size": 16, "tower_lr_multiplier": 10, "logging_steps": 10, "save_steps": 1000,
        "losses": {"weights": {"nce_mrl": 1.0, "cosent": 0.3}},
        "stages": [{"name": "I", "sources": ["copair-i2i", "search-q2i", "summary-i2i", "search-i2i", "cls"],
                    "weights": "uniform", "steps": 40, "lr": 1e-4}],
    })  # fmt: skip
    trained = evaluate(OmniEmbedder(omnivec.load(train_recipe(recipe, progress=False, echo=lambda s: None))),
                       tiny_world, tasks=TASKS, progress=False)  # fmt: skip
    for task in ("search-q2i", "content-i2i"):
        before, after = untrained[task]["recall@50"], trained[task]["recall@50"]
        assert after > before + 0.03, f"{task}: Recall@50 {before:.3f} -> {after:.3f}"
