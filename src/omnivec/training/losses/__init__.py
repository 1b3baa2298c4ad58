"""SAIL-Embedding losses: embeddings in, scalar out (one file per loss)."""

from __future__ import annotations

from omnivec.training.losses.cosent import CoSENTLoss
from omnivec.training.losses.late_fusion import LateFusionLoss
from omnivec.training.losses.micl import MICLLoss
from omnivec.training.losses.nce_mrl import NCEMRLLoss
from omnivec.training.losses.total import TERMS, SAILInputs, SAILLoss, combine_losses

__all__ = [
    "TERMS",
    "CoSENTLoss",
    "LateFusionLoss",
    "MICLLoss",
    "NCEMRLLoss",
    "SAILInputs",
    "SAILLoss",
    "combine_losses",
]
