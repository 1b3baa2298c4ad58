"""``omnivec quickstart --ablate``: the SAIL content recipe with each mechanism switched off in turn.

Like the paper's Figs. 9–10, each variant is scored by the average of its i2i and q2i headline metrics
(Recall@50 for retrieval, AUC for q2i classification) and compared with the full recipe. Whatever the sign of
a difference, it is reported as measured.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omnivec.quickstart.tables import task_kind
from omnivec.training.recipe import Recipe

Transform = Callable[[dict], None]


def _stages(raw: dict) -> list[dict]:
    return raw["stages"]


def _no_specialization(raw: dict) -> None:
    for s in _stages(raw):
        s["mix"] = True


def _no_balancing(raw: dict) -> None:
    for s in _stages(raw):
        if s.get("weights") == "balanced":
            s["weights"] = "size"


def _no_hard_negatives(raw: dict) -> None:
    for s in _stages(raw):
        s["hard_negatives"] = None


def _no_patterns(raw: dict, sources: list[str]) -> None:
    for s in _stages(raw):
        names = sources if s.get("sources") == "all" else s["sources"]
        s["patterns"] = {n: [("omni", "omni")] for n in names}


def _loss_off(term: str) -> Transform:
    def apply(raw: dict) -> None:
        raw["losses"]["weights"][term] = 0.0

    return apply


def _no_progressive(raw: dict) -> None:
    steps = sum(s.get("steps") or 0 for s in _stages(raw))
    first = _stages(raw)[0]
    raw["stages"] = [{**first, "name": "all-in-one", "sources": "all", "weights": "size", "steps": steps,
                      "hard_negatives": None}]  # fmt: skip


def _no_instructions(raw: dict) -> None:
    raw["model"]["instruction"] = "Represent this content."


def _no_field_drop(raw: dict) -> None:
    raw["field_drop_prob"] = 0.0


def ablations(sources: list[str]) -> dict[str, Transform]:
    return {
        "no-stochastic-specialization": _no_specialization,
        "no-balancing": _no_balancing,
        "no-hard-negatives": _no_hard_negatives,
        "no-pattern-matching": lambda raw: _no_patterns(raw, sources),
        "no-cosent": _loss_off("cosent"),
        "no-micl": _loss_off("micl"),
        "no-late-fusion": _loss_off("late_fusion"),
        "no-progressive-stages": _no_progressive,
        "no-task-instructions": _no_instructions,
        "no-field-drop": _no_field_drop,
    }


def headline(results: dict[str, Any]) -> dict[str, float]:
    """Average Recall@50 over i2i and q2i retrieval tasks and AUC over q2i classification tasks (seq→item and
    ID-relevance tasks are recommendation metrics, not the content recipe's: left out)."""
    i2i = [
        m["recall@50"]
        for t, m in results.items()
        if "/" not in t and task_kind(t) == "i2i" and "recall@50" in m
    ]
    q2i = [
        m.get("recall@50", m.get("auc")) for t, m in results.items() if "/" not in t and task_kind(t) == "q2i"
    ]
    q2i = [v for v in q2i if v is not None]
    both = i2i + q2i
    return {"i2i": sum(i2i) / max(len(i2i), 1), "q2i": sum(q2i) / max(len(q2i), 1),
            "avg": sum(both) / max(len(both), 1)}  # fmt: skip


def run_ablations(out: Path, world: Path, profile: Any, seed: int, echo: Callable[[str], None],
                  full: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    import omnivec
    from omnivec.evaluation.embedders import OmniEmbedder
    from omnivec.evaluation.tasks import evaluate
    from omnivec.quickstart.pipeline import recipe_path
    from omnivec.recsys.sequence_io import load_sequence_encoder
    from omnivec.training.cre import is_cre_stage
    from omnivec.training.data import TrainingData
    from omnivec.training.recipe import load_recipe, recipe_from_dict
    from omnivec.training.run import train_recipe

    base: Recipe = load_recipe(
        recipe_path(profile.recipe), {"data": str(world), "output_dir": "unused", "seed": seed}
    )
    raw = base.model_dump(mode="json")
    raw["stages"] = [s for s in raw["stages"] if not is_cre_stage(s["sources"])]
    tasks = [
        t for t in full if "/" not in t and task_kind(t) in ("i2i", "q2i")
    ]  # seq2item, id-i2i: not content
    ref = headline({t: full[t] for t in tasks})
    rows = {"full": ref}
    per_task = {"full": {t: full[t].get("recall@50", full[t].get("auc")) for t in tasks}}
    for name, transform in ablations(TrainingData(world).source_names).items():
        t = time.perf_counter()
        patched = copy.deepcopy(raw)
        patched.update(name=name, output_dir=str(out / "ablation" / name))
        transform(patched)
        model_dir = train_recipe(recipe_from_dict(patched), echo=lambda s: None)
        embedder = OmniEmbedder(
            omnivec.load(model_dir), name=name, sequence_encoder=load_sequence_encoder(model_dir)
        )
        res = evaluate(embedder, world, tasks=tasks, seed=seed, progress=False)
        res.pop("_meta", None)
        rows[name] = headline(res)
        per_task[name] = {t: m.get("recall@50", m.get("auc")) for t, m in res.items() if t in tasks}
        d = rows[name]["avg"] - ref["avg"]
        echo(
            f"  {name:30s} avg {100 * rows[name]['avg']:.2f} ({100 * d:+.2f} vs full)  {time.perf_counter() - t:.0f}s"
        )
    return {"headline": "mean of i2i/q2i Recall@50 and q2i AUC", "reference": "sail-content (no CRE)",
            "rows": rows, "tasks": per_task}  # fmt: skip


def format_ablation(ablation: dict[str, Any]) -> str:
    rows = ablation["rows"]
    ref = rows["full"]["avg"]
    lines = ["Ablation — the SAIL content recipe with one mechanism off (avg of i2i/q2i headline metrics, %)",
             f"{'variant':36s} {'i2i':>7s} {'q2i':>7s} {'avg':>7s} {'Δ avg':>7s}"]  # fmt: skip
    for name, r in rows.items():
        label = "full content recipe (sail-content)" if name == "full" else name
        lines.append(f"{label:36s} {100 * r['i2i']:7.2f} {100 * r['q2i']:7.2f} {100 * r['avg']:7.2f} "
                     f"{100 * (r['avg'] - ref):+7.2f}")  # fmt: skip
    return "\n".join(lines)
