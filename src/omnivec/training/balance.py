"""Adaptive multi-source balancing (§3.1.3) with a real (early) model: the embedding side.

Each training source and each validation set is embedded per modality — ``fusion`` (omni view), ``vision``,
``text``, ``audio`` — from a seeded sample of its inputs (queries and targets). The math (k-means per modality,
centroid cosine C, Sinkhorn on 1−C, S = Σ P⊙C, fusion first, mean over validation sets, softmax) lives in
:func:`omnivec.data.balancing.source_weights`.

Validation sets: the data folder's evaluation tasks, using only their *query inputs and targets as inputs*
(never their relevance labels) — the "benchmark validation sets whose distribution resembles the downstream
tasks" of the paper. A folder without tasks can name sources to play that role.

Only what the scores use is embedded: the lower-priority views only when some set lacks a fusion embedding,
and every distinct input once per view (sets share items; see :class:`~omnivec.training.embed_memo.EmbeddingMemo`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from omnivec.data.balancing import DEFAULT_PRIORITY, BalanceResult, source_weights
from omnivec.training.data import TrainingData, read_table
from omnivec.training.embed_memo import EmbeddingMemo
from omnivec.utils.io import write_json

VIEWS = {"fusion": None, "vision": "vision", "text": "text", "audio": "audio"}
#: (key, raw input) pairs: the key names the input in the embedding memo (``item:<id>`` or ``text:<text>``).
Keyed = list[tuple[str, dict]]


def _embed_modalities(
    memo: EmbeddingMemo, inputs: Keyed, task: str, views: list[str]
) -> dict[str, np.ndarray]:
    from omnivec.inputs import parse_item
    from omnivec.model.views import item_modalities, parse_view

    out: dict[str, np.ndarray] = {}
    for modality in views:
        view = VIEWS[modality]
        allowed = parse_view(view)
        subset = [(key, x) for key, x in inputs if item_modalities(parse_item(x, 0)) & allowed]
        if not subset:
            continue
        emb, ok = memo.embed([key for key, _ in subset], [x for _, x in subset], task=task, side="target",
                             view=view)  # fmt: skip
        if ok.any():
            out[modality] = emb[ok]
    return out


def _sample(values: list, n: int, rng: np.random.Generator) -> list:
    if len(values) <= n:
        return values
    return [values[i] for i in sorted(rng.choice(len(values), size=n, replace=False))]


def source_inputs(data: TrainingData, name: str) -> Keyed:
    src = data.source(name)
    cfg = src.config
    out: Keyed = []
    for row in src.rows:
        for side in ("query", "target"):
            kind = getattr(cfg, side)
            value = row[f"{side}_{kind}"]
            out.append((f"item:{value}", data.store.item(value)) if kind == "item"
                       else (f"text:{value}", {"text": value}))  # fmt: skip
    return out


def task_inputs(data: TrainingData, task_path: Path) -> Keyed:
    rows = read_table(task_path).to_pylist()
    out: Keyed = []
    for row in rows:
        if row.get("query_item") and row["query_item"] in data.store:
            out.append((f"item:{row['query_item']}", data.store.item(row["query_item"])))
        elif row.get("query_text"):
            out.append((f"text:{row['query_text']}", {"text": row["query_text"]}))
        if row.get("target_item") and row["target_item"] in data.store:
            out.append((f"item:{row['target_item']}", data.store.item(row["target_item"])))
    return out


def balance_sources(
    model: Any,
    data: TrainingData,
    *,
    sources: list[str] | None = None,
    validation: list[str] | None = None,
    per_set: int = 256,
    k: int = 8,
    temperature: float = 0.05,
    seed: int = 0,
    batch_size: int = 32,
    aggregate: str = "mean",
) -> BalanceResult:
    """Weights for ``sources`` (default: all) from their alignment with the validation sets (default: the
    folder's tasks of type i2i/q2i/cls; or the sources named in ``validation``)."""
    rng = np.random.default_rng(seed)
    names = sources or data.source_names
    samples: dict[str, Keyed] = {n: _sample(source_inputs(data, n), per_set, rng) for n in names}
    val_samples: dict[str, Keyed] = {}
    if validation:
        for n in validation:
            val_samples[f"source:{n}"] = _sample(source_inputs(data, n), per_set, rng)
    else:
        tasks = sorted((data.root / "tasks").glob("*.json"))
        import json

        for cfg_path in tasks:
            cfg = json.loads(cfg_path.read_text())
            if cfg.get("type") not in ("i2i", "q2i", "cls"):
                continue
            inputs = _sample(task_inputs(data, cfg_path.parent / cfg["file"]), per_set, rng)
            if inputs:
                val_samples[cfg["name"]] = inputs
    if not val_samples:
        from omnivec.errors import ConfigError

        raise ConfigError(f"{data.root}: no evaluation tasks to balance against; pass validation sources")
    # Fusion first: a pair of sets is scored on the first modality of DEFAULT_PRIORITY both carry, so the
    # other views are only embedded when some set has no embedding of the first one (then all views, as
    # each modality is centred over every set that has it). Items shared by several sets are embedded once.
    memo = EmbeddingMemo(model, batch_size=batch_size)
    first, rest = [DEFAULT_PRIORITY[0]], [m for m in DEFAULT_PRIORITY[1:] if m in VIEWS]
    train = {n: _embed_modalities(memo, x, "i2i", first) for n, x in samples.items()}
    val = {n: _embed_modalities(memo, x, "i2i", first) for n, x in val_samples.items()}
    if any(first[0] not in sets for sets in (*train.values(), *val.values())):
        for group, inputs in ((train, samples), (val, val_samples)):
            for n, x in inputs.items():
                group[n].update(_embed_modalities(memo, x, "i2i", rest))
    _center(train, val)
    return source_weights(train, val, k=k, temperature=temperature, seed=seed, aggregate=aggregate)  # type: ignore[arg-type]


def _center(*groups: dict[str, dict[str, np.ndarray]]) -> None:
    """Subtract each modality's mean over every set (our choice): embedding spaces are anisotropic (all
    cosines near 1 before training), which would make every centroid look alike and the weights uniform."""
    by_mod: dict[str, list[np.ndarray]] = {}
    for group in groups:
        for sets in group.values():
            for mod, x in sets.items():
                by_mod.setdefault(mod, []).append(x)
    means = {mod: np.concatenate(xs).mean(axis=0, keepdims=True) for mod, xs in by_mod.items()}
    for group in groups:
        for sets in group.values():
            for mod in sets:
                sets[mod] = sets[mod] - means[mod]


def save_balance(result: BalanceResult, path: str | Path) -> None:
    write_json(path, {
        "weights": result.weights,
        "mean_scores": dict(zip(result.train_names, map(float, result.mean_scores), strict=True)),
        "validation_sets": result.val_names,
        "scores": [[None if np.isnan(v) else float(v) for v in row] for row in result.scores],
        "table": result.table(),
    })  # fmt: skip
