"""Baselines trained on the same data in the same run (paper §5.3): a CLIP-style dual tower, text-only
all-MiniLM-L6-v2 zero-shot and fine-tuned with MultipleNegativesRankingLoss. (The plain fusion baseline is the
SAIL trainer with every mechanism off: see ``recipes/``.) Each is an evaluation ``Embedder``."""

from __future__ import annotations

from omnivec.evaluation.baselines.clip import DualTowerEmbedder, train_dual_tower
from omnivec.evaluation.baselines.minilm import MiniLMEmbedder, train_minilm_mnrl

__all__ = ["DualTowerEmbedder", "MiniLMEmbedder", "train_dual_tower", "train_minilm_mnrl"]
