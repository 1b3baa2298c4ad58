"""``quickstart --ablate``: each variant switches exactly its mechanism off and is still a valid recipe; the
headline averages the right metrics; the table reports differences to the reference as measured."""

from __future__ import annotations

import copy

import pytest

from omnivec.quickstart.ablation import ablations, format_ablation, headline
from omnivec.quickstart.pipeline import recipe_path
from omnivec.quickstart.tables import task_kind
from omnivec.training.recipe import load_recipe, recipe_from_dict

SOURCES = ["copair-i2i", "search-q2i", "cls"]


@pytest.fixture(scope="module")
def raw() -> dict:
    recipe = load_recipe(recipe_path("quickstart.yaml"), {"data": "unused", "output_dir": "unused"})
    out = recipe.model_dump(mode="json")
    out["stages"] = [s for s in out["stages"] if not s["name"].startswith("CRE")]
    return out


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


def test_each_variant_switches_its_mechanism_off_and_stays_valid(raw: dict) -> None:
    variants = ablations(SOURCES)
    assert len(variants) == 10
    seen = {}
    for name, transform in variants.items():
        patched = copy.deepcopy(raw)
        transform(patched)
        recipe_from_dict(patched, name)  # still a valid recipe
        seen[name] = patched
        assert patched != raw, name
    stages = {n: p["stages"] for n, p in seen.items()}
    assert all(s["mix"] for s in stages["no-stochastic-specialization"])
    assert not any(s.get("weights") == "balanced" for s in stages["no-balancing"])
    assert any(s.get("weights") == "balanced" for s in raw["stages"])
    assert all(s["hard_negatives"] is None for s in stages["no-hard-negatives"])
    for s in stages["no-pattern-matching"]:
        names = SOURCES if s["sources"] == "all" else s["sources"]
        assert {n: [list(p) for p in v] for n, v in s["patterns"].items()} == {
            n: [["omni", "omni"]] for n in names
        }
    for term in ("cosent", "micl", "late_fusion"):
        name = "no-" + term.replace("_", "-")
        assert seen[name]["losses"]["weights"][term] == 0.0
        assert _changed(raw["losses"]["weights"], seen[name]["losses"]["weights"]) == {term}
    (single,) = stages["no-progressive-stages"]
    assert single["steps"] == sum(s["steps"] for s in raw["stages"]) and single["sources"] == "all"
    assert seen["no-task-instructions"]["model"]["instruction"] == "Represent this content."
    assert seen["no-field-drop"]["field_drop_prob"] == 0.0 < raw["field_drop_prob"]
    assert _changed(raw, seen["no-field-drop"]) == {"field_drop_prob"}


def test_headline_and_table() -> None:
    results = {
        "content-i2i": {"recall@50": 0.4, "recall@10": 0.9},
        "content-i2i/cold": {"recall@50": 0.0},  # slices are not headline tasks
        "id-i2i": {"recall@50": 0.0},
        "search-q2i": {"recall@50": 0.7},
        "score-q2i": {"auc": 0.8},
        "seq2item": {"recall@50": 0.0},  # holds "q2i" in its name, but is a recommendation task
    }
    h = headline(results)
    assert h["i2i"] == pytest.approx(0.4) and h["q2i"] == pytest.approx(0.75)
    assert h["avg"] == pytest.approx((0.4 + 0.7 + 0.8) / 3)
    table = format_ablation(
        {"rows": {"full": h, "no-micl": {"i2i": 0.5, "q2i": 0.75, "avg": h["avg"] + 0.01}}}
    )
    assert "no-micl" in table and "+1.00" in table and "+0.00" in table
    assert [task_kind(t) for t in ("seq2item-filtered", "id-i2i", "dup-i2i", "code-q2i", "cls-l1", "ctr/cold")] == [
        "seq2item", "id-i2i", "i2i", "q2i", "cls", "ctr"
    ]  # fmt: skip
