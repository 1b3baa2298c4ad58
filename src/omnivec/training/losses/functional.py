"""Functional building blocks shared by the SAIL losses (no parameters, no state)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["info_nce", "masked_info_nce"]


def masked_info_nce(logits: Tensor, positive: Tensor, valid: Tensor | None = None) -> Tensor:
    """Mean over rows of ``-log softmax(logits)[row, positive[row]]`` with invalid candidates removed.

    Args:
        logits: ``[N, C]`` scores already divided by the temperature.
        positive: ``[N]`` long, the column of each row's positive.
        valid: optional ``[N, C]`` bool, ``False`` removes a candidate from the denominator. The
            positive column is always kept.

    Computed in float32 whatever the input precision.
    """
    logits = logits.float()
    if valid is not None:
        keep = valid.clone()
        keep[torch.arange(logits.shape[0], device=logits.device), positive] = True
        logits = logits.masked_fill(~keep, float("-inf"))
    return F.cross_entropy(logits, positive)


def info_nce(query: Tensor, target: Tensor, temperature: float | Tensor) -> Tensor:
    """In-batch InfoNCE, query→target: ``mean_i -log exp(c_ii/τ) / Σ_j exp(c_ij/τ)`` with cosine ``c``.

    Args:
        query: ``[N, D]`` embeddings (normalised here).
        target: ``[N, D]`` embeddings, row ``i`` is the positive of query ``i`` and a negative of the others.
        temperature: τ > 0.
    """
    q = F.normalize(query.float(), dim=-1)
    t = F.normalize(target.float(), dim=-1)
    logits = q @ t.T / temperature
    return F.cross_entropy(logits, torch.arange(q.shape[0], device=q.device))
