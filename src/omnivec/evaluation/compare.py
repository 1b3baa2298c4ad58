"""Is one model better than another on a task, or is the gap noise? Paired bootstrap intervals per task.

Two models evaluated on the same queries give paired per-query values (``evaluate(..., per_query=True)``).
Resampling the queries (the same resample for both models) and recomputing the difference gives a 95 %
interval for it: an interval that holds 0 means this task's queries cannot tell the two models apart. For
a retrieval task the difference is of the mean per-query metric (Recall@50 by default); for a pair task
(query–item pairs with labels) it is of the AUC, recomputed on each resample of the pairs.

A quickstart with one seed and a few hundred queries per task has intervals of one to several points; the
README's "SAIL vs baseline" table prints them next to each difference so a one-point margin is read as
what it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from omnivec.errors import ConfigError
from omnivec.evaluation.hybrid import paired_difference
from omnivec.evaluation.metrics import auc

__all__ = ["compare_models", "paired_auc_difference"]

PerQuery = Mapping[str, Mapping[str, np.ndarray]]


def paired_auc_difference(
    score_a: np.ndarray,
    score_b: np.ndarray,
    labels: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """``(AUC(a) - AUC(b), low, high)`` over the same labelled pairs, with a paired bootstrap interval
    (pairs resampled together for both models; a resample with one class only is drawn again)."""
    a, b = np.asarray(score_a, np.float64), np.asarray(score_b, np.float64)
    y = np.asarray(labels).astype(bool)
    if not (a.shape == b.shape == y.shape) or a.size == 0:
        raise ConfigError(f"paired_auc_difference: {a.size} / {b.size} scores for {y.size} labels")
    if y.all() or not y.any():
        raise ConfigError("paired_auc_difference: the pairs need both positive and negative labels")
    point = auc(a, y) - auc(b, y)
    rng = np.random.default_rng(seed)
    boots: list[float] = []
    while len(boots) < n_boot:
        idx = rng.integers(0, y.size, size=y.size)
        yy = y[idx]
        if yy.all() or not yy.any():
            continue
        boots.append(auc(a[idx], yy) - auc(b[idx], yy))
    tail = (1.0 - level) / 2
    return float(point), float(np.quantile(boots, tail)), float(np.quantile(boots, 1 - tail))


def compare_models(
    per_query: Mapping[str, PerQuery],
    reference: str,
    others: Sequence[str],
    *,
    metric: str = "recall@50",
    extra_metrics: Mapping[str, Sequence[str]] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{other: {task: {"metric", "difference", "low", "high", "queries"}}}``: ``reference`` minus each
    model in ``others`` on every task both have per-query values for (``metric`` for retrieval tasks, AUC
    for pair tasks), with paired bootstrap 95 % intervals. Values are fractions, like the metrics.

    ``extra_metrics`` (``{task: [metric, ...]}``) adds rows keyed ``"<task>:<metric>"`` for other per-query
    values of a task, e.g. ``{"id-i2i": ["kendall_tau", "topk_intersection"]}`` (Table 4's consistency)."""
    if reference not in per_query:
        raise ConfigError(f"compare_models: no per-query values for {reference!r}")
    ref = per_query[reference]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for other in others:
        if other not in per_query:
            raise ConfigError(f"compare_models: no per-query values for {other!r}")
        rows: dict[str, dict[str, Any]] = {}
        for task, values in ref.items():
            theirs = per_query[other].get(task)
            if theirs is None:
                continue
            if "score" in values and "label" in values and "score" in theirs:
                if len(theirs["score"]) != len(values["score"]):
                    raise ConfigError(f"compare_models: task {task!r} has different pairs for the two models")
                d, lo, hi = paired_auc_difference(values["score"], theirs["score"], values["label"],
                                                  n_boot=n_boot, seed=seed)  # fmt: skip
                name, n = "auc", len(values["label"])
            elif metric in values and metric in theirs:
                d, lo, hi = paired_difference({task: values}, {task: theirs}, [task], metric, n_boot=n_boot,
                                              seed=seed)  # fmt: skip
                name, n = metric, len(values[metric])
            else:
                continue
            rows[task] = {"metric": name, "difference": d, "low": lo, "high": hi, "queries": int(n)}
            for extra in (extra_metrics or {}).get(task, ()):
                if extra in values and extra in theirs:
                    d, lo, hi = paired_difference({task: values}, {task: theirs}, [task], extra, n_boot=n_boot,
                                                  seed=seed)  # fmt: skip
                    rows[f"{task}:{extra}"] = {"metric": extra, "difference": d, "low": lo, "high": hi,
                                               "queries": len(values[extra])}  # fmt: skip
        out[other] = rows
    return out
