"""Evaluation: metrics, chunked top-k scoring, the embedder protocol, the task runner, a training-time
evaluator and the HTML report (paper §4.2–4.3; ``reference/papers.md`` §5–6).

    import omnivec
    from omnivec.evaluation import OmniEmbedder, evaluate, write_report

    results = evaluate(OmniEmbedder(omnivec.load("runs/x/model")), "runs/world")
    write_report(results, "runs/x/eval")            # results.json + report.html

Names are imported on first use, so ``import omnivec.evaluation`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "Embedder",
    "EmbeddingCache",
    "EvalData",
    "OmniEmbedder",
    "WorldEvaluator",
    "accuracy",
    "auc",
    "count_above",
    "evaluate",
    "mean_reciprocal_rank",
    "mean_sequence",
    "ndcg_at_k",
    "open_data",
    "recall_at_k",
    "reciprocal_rank",
    "separability",
    "topk",
    "write_report",
]

_LAZY = {
    "EmbeddingCache": "omnivec.evaluation.cache",
    "Embedder": "omnivec.evaluation.embedders",
    "OmniEmbedder": "omnivec.evaluation.embedders",
    "mean_sequence": "omnivec.evaluation.embedders",
    "EvalData": "omnivec.evaluation.dataset",
    "open_data": "omnivec.evaluation.dataset",
    "WorldEvaluator": "omnivec.evaluation.evaluator",
    "accuracy": "omnivec.evaluation.metrics",
    "auc": "omnivec.evaluation.metrics",
    "mean_reciprocal_rank": "omnivec.evaluation.metrics",
    "ndcg_at_k": "omnivec.evaluation.metrics",
    "recall_at_k": "omnivec.evaluation.metrics",
    "reciprocal_rank": "omnivec.evaluation.metrics",
    "separability": "omnivec.evaluation.metrics",
    "count_above": "omnivec.evaluation.scoring",
    "topk": "omnivec.evaluation.scoring",
    "evaluate": "omnivec.evaluation.tasks",
    "write_report": "omnivec.evaluation.report",
}

if TYPE_CHECKING:
    from omnivec.evaluation.cache import EmbeddingCache
    from omnivec.evaluation.dataset import EvalData, open_data
    from omnivec.evaluation.embedders import Embedder, OmniEmbedder, mean_sequence
    from omnivec.evaluation.evaluator import WorldEvaluator
    from omnivec.evaluation.metrics import (
        accuracy,
        auc,
        mean_reciprocal_rank,
        ndcg_at_k,
        recall_at_k,
        reciprocal_rank,
        separability,
    )
    from omnivec.evaluation.report import write_report
    from omnivec.evaluation.scoring import count_above, topk
    from omnivec.evaluation.tasks import evaluate


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'omnivec.evaluation' has no attribute {name!r}")
