"""``WorldEvaluator``: the task runner as a sentence-transformers evaluator, for checks during training.

    from omnivec.evaluation.evaluator import WorldEvaluator
    evaluator = WorldEvaluator("runs/world", tasks=["content-i2i", "search-q2i"], max_queries=200)
    trainer = SentenceTransformerTrainer(..., evaluator=evaluator)   # logs eval_content-i2i_recall@50, ...

It plugs into the trainer through sentence-transformers' own extension point (``BaseEvaluator``): the trainer
calls it with the model being trained and logs the returned ``{f"{task}_{metric}": value}`` dict; the
``primary_metric`` (default: ``average``, the mean of each task's headline metric, see
:func:`~omnivec.evaluation.tasks.headline_metric`) drives ``load_best_model_at_end``. Each call embeds the
corpus afresh, since the weights changed; ``max_queries`` bounds the query side.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sentence_transformers.base.evaluation import BaseEvaluator

from omnivec.evaluation.dataset import open_data
from omnivec.evaluation.embedders import OmniEmbedder
from omnivec.evaluation.tasks import DEFAULT_KS, evaluate

__all__ = ["WorldEvaluator"]

AVERAGE = "average"


class WorldEvaluator(BaseEvaluator):
    """Runs a subset of a world's (or dataset's) tasks with the model under training.

    Args:
        data_dir: world or dataset folder.
        tasks: task names (default: every task the runner scores itself, i.e. all but ``ctr``).
        max_queries: rows per task (seeded subset); ``None`` = all.
        batch_size: encoding batch size.
        dimensions: Matryoshka truncation; ``None`` = full width.
        ks: Recall@k cut-offs.
        primary_metric: ``"average"`` or a ``"<task>_<metric>"`` key.
        name: prefix of every key (``""`` = none).
        cold_split: also report ``"<task>/cold_<metric>"``.
        seed: row subset and negatives seed.
    """

    def __init__(
        self,
        data_dir: str | Path,
        tasks: Sequence[str] | None = None,
        *,
        max_queries: int | None = 200,
        batch_size: int = 32,
        dimensions: int | None = None,
        ks: Sequence[int] = DEFAULT_KS,
        primary_metric: str = AVERAGE,
        name: str = "",
        cold_split: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        data = open_data(self.data_dir)
        if tasks is None:
            tasks = [t.name for t in data.tasks if t.type != "ctr"]
        else:
            for t in tasks:
                data.task(t)  # unknown names fail now, not at the first evaluation step
        self.tasks = list(tasks)
        self.max_queries = max_queries
        self.batch_size = batch_size
        self.dimensions = dimensions
        self.ks = tuple(ks)
        self.name = name
        self.cold_split = cold_split
        self.seed = seed
        self.primary_metric = primary_metric
        self.greater_is_better = True

    def compute(self, model: Any) -> tuple[dict[str, float], dict[str, Any]]:
        """Evaluate ``model``; returns (flat metrics without the name prefix, the runner's ``_meta``)."""
        embedder = OmniEmbedder(model, batch_size=self.batch_size, dimensions=self.dimensions)
        res = evaluate(embedder, self.data_dir, self.tasks, cold_split=self.cold_split, ks=self.ks,
                       progress=False, max_queries=self.max_queries, seed=self.seed)  # fmt: skip
        meta = res.pop("_meta")
        flat = {f"{task}_{metric}": float(v) for task, values in res.items() for metric, v in values.items()}
        heads = [res[t][m] for t, m in meta.get("headline", {}).items() if t in res and m in res[t]]
        flat[AVERAGE] = float(np.mean(heads)) if heads else 0.0
        return flat, meta

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: float = -1, steps: int = -1
    ) -> dict[str, float]:
        was_training = bool(getattr(model, "training", False))
        model.eval()
        try:
            flat, meta = self.compute(model)
        finally:
            if was_training:
                model.train()
        if output_path is not None:
            os.makedirs(output_path, exist_ok=True)
            record = {"epoch": epoch, "steps": steps, "metrics": flat, "seconds": meta.get("seconds")}
            with open(os.path.join(output_path, "world_eval.jsonl"), "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        metrics = self.prefix_name_to_metrics(flat, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict[str, Any]:
        return {"tasks": self.tasks, "max_queries": self.max_queries, "dimensions": self.dimensions}
