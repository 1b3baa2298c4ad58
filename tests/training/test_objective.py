"""The pattern-matched SAIL objective and its collator on the tiny world with the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import omnivec
from omnivec.training.collator import SAILCollator, view_of
from omnivec.training.data import TrainingData
from omnivec.training.recipe import recipe_from_dict
from omnivec.training.run import build_objective


@pytest.fixture(scope="module")
def setup(tiny_world):
    model = omnivec.build("tiny", seed=0)
    data = TrainingData(tiny_world)
    recipe = recipe_from_dict({
        "name": "t", "data": str(tiny_world), "output_dir": "unused",
        "losses": {"weights": {"nce_mrl": 1.0, "cosent": 0.5, "micl": 0.2, "late_fusion": 0.2}},
        "stages": [{"name": "s", "steps": 1}],
    })  # fmt: skip
    return model, data, recipe


def _rows(source, n, start=0):
    return [{"source": source, "row": i} for i in range(start, start + n)]


def test_collator_builds_each_view_once_with_only_rows_that_have_it(setup):
    model, data, _ = setup
    collator = SAILCollator(model, data)
    batch = collator(_rows("summary-i2i", 12))
    patterns = data.source("summary-i2i").config.patterns
    assert batch["patterns"] == [tuple(p) for p in patterns]
    expected_views = {f"query/{q}" for q, _ in patterns} | {f"target/{t}" for _, t in patterns}
    assert set(batch["views"]) == expected_views
    src = data.source("summary-i2i")
    for side in ("query", "target"):
        ids = [src.rows[i][f"{side}_item"] for i in range(12)]
        has_video = [b for b, i in enumerate(ids) if "video" in data.store.item(i)]
        rows = batch["views"][f"{side}/video"]["rows"].tolist()
        assert rows == has_video, "the video view holds exactly the rows whose item has a video"
        assert batch["views"][f"{side}/omni"]["rows"].tolist() == list(range(12))


def test_view_of_keeps_only_the_views_modalities(setup):
    model, data, _ = setup
    item = next(
        data.store.item(i)
        for i in data.store.ids
        if {"image", "video", "audio", "title"} <= set(data.store.item(i))
    )
    decoded = model.omni_input.decode(item, 0)
    assert decoded.num_images == 1 and len(decoded.frames) > 1
    text = view_of(decoded, "text")
    assert text.frames == [] and text.audio is None and text.text == decoded.text
    image = view_of(decoded, "image")
    assert len(image.frames) == 1 and image.text == "" and image.audio is None
    video = view_of(decoded, "video")
    assert len(video.frames) == len(decoded.frames) - 1 and video.num_images == 0
    assert view_of(view_of(decoded, "text"), "audio") is None


def test_text_target_groups_mask_identical_labels(setup):
    model, data, _ = setup
    batch = SAILCollator(model, data)(_rows("cls", 16))
    labels = [data.source("cls").rows[i]["target_text"] for i in range(16)]
    groups = batch["target_groups"].tolist()
    for a in range(16):
        for b in range(16):
            assert (labels[a] == labels[b]) == (groups[a] == groups[b])


def test_cached_equals_uncached_loss_and_gradients(setup):
    model, data, recipe = setup
    objective = build_objective(model, recipe, data, recipe.stages[0])
    collator = SAILCollator(model, data, extra_views=("vision", "text"), max_hard_negatives=2,
                            negatives={"copair-i2i": {i: [data.store.ids[i + 20], data.store.ids[i + 40]] for i in range(12)}})  # fmt: skip
    batch = collator(_rows("copair-i2i", 12))
    assert "negatives" in batch
    model.eval()  # dropout off: cached and uncached see the same network

    def run(mini):
        objective.mini_batch_size = mini
        objective.zero_grad()
        out = objective(batch)
        out["loss"].backward()
        grads = {n: p.grad.clone() for n, p in objective.named_parameters() if p.grad is not None}
        return out["loss"].item(), grads

    loss_full, g_full = run(None)
    loss_cached, g_cached = run(5)
    model.train()
    assert loss_cached == pytest.approx(loss_full, rel=1e-5)
    assert g_full.keys() == g_cached.keys() and len(g_full) > 50
    for name in g_full:
        torch.testing.assert_close(g_cached[name], g_full[name], atol=2e-5, rtol=1e-3, msg=name)


def test_per_source_temperature_gets_gradient_and_disabled_terms_are_zero(setup):
    model, data, recipe = setup
    objective = build_objective(model, recipe, data, recipe.stages[0])
    collator = SAILCollator(model, data, extra_views=("vision", "text"))
    out = objective(collator(_rows("score-q2i", 8)))
    out["loss"].backward()
    temps = objective.loss.nce_mrl.log_temperature
    assert temps["score-q2i"].grad is not None and temps["score-q2i"].grad != 0
    assert temps["copair-i2i"].grad is None
    assert float(out["loss/cosent"]) > 0

    only_nce = recipe_from_dict({**recipe.model_dump(), "losses": {"weights": {"nce_mrl": 1.0}}})
    objective = build_objective(model, only_nce, data, only_nce.stages[0])
    batch = collator(_rows("copair-i2i", 8))
    out = objective(batch)
    assert "loss/micl" not in out and "loss/late_fusion" not in out
    assert out["loss"].item() == pytest.approx(out["loss/nce_mrl"].item(), abs=0)


def test_rows_lacking_a_modality_drop_out_of_that_pattern(setup):
    model, data, recipe = setup
    objective = build_objective(model, recipe, data, recipe.stages[0])
    batch = SAILCollator(model, data)(_rows("summary-i2i", 12))
    out = objective(batch)
    n_video = len(
        np.intersect1d(batch["views"]["query/video"]["rows"], batch["views"]["target/video"]["rows"])
    )
    if n_video >= 2:
        assert "pattern/video->video" in out
    else:
        assert "pattern/video->video" not in out
    assert "pattern/omni->omni" in out and "pattern/text->text" in out
