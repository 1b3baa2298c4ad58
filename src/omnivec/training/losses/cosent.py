"""CoSENT ranking loss on graded (query, target, score) pairs. SAIL-Embedding §3.3.2, eq. 3."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.errors import ConfigError

__all__ = ["CoSENTLoss"]


class CoSENTLoss(nn.Module):
    r"""CoSENT: every pair of pairs whose gold scores disagree with their cosine order is penalised.

    With ``c_i = cos(query_i, target_i)`` and gold ``scores`` ``y``:

    .. math::

        L = \log\Bigl(1 + \sum_{(i, j):\, y_i > y_j} e^{\,s\,(c_j - c_i)}\Bigr), \qquad s = \text{scale} = 1/\tau

    This is exactly the formula of ``sentence_transformers.sentence_transformer.losses.CoSENTLoss``
    (same value on the same cosines, checked in the tests; ties in ``y`` contribute nothing, boolean
    labels count as 0/1, half-precision cosines are upcast).

    Why a wrapper rather than the sentence-transformers class: that loss is *features in* (it owns the
    model and runs ``model(features)`` itself). In omnivec one shared forward pass embeds every
    modality view of the batch once and several losses (NCE-MRL over several patterns, CoSENT, mICL,
    late fusion) consume those embeddings, so each loss must be *embeddings in*.

    Inputs (``forward``): ``query`` and ``target`` ``[B, D]`` embeddings (row ``i`` is one pair) and
    ``scores`` ``[B]`` graded labels (any real scale; only their order matters).

    When to use: text-oriented sources with graded relevance labels (the paper's Score-q2i), weighted
    by ``λ`` in the total loss. A batch whose labels are all equal gives exactly 0.
    """

    def __init__(self, scale: float = 20.0) -> None:
        super().__init__()
        if not scale > 0:
            raise ConfigError(f"scale: must be > 0, got {scale!r}")
        self.scale = float(scale)

    def forward(self, query: Tensor, target: Tensor, scores: Tensor) -> Tensor:
        if query.shape != target.shape or query.dim() != 2:
            raise ValueError(
                f"query and target must both be [B, D], got {tuple(query.shape)}, {tuple(target.shape)}"
            )
        labels = scores.reshape(-1)
        if labels.numel() != query.shape[0]:
            raise ValueError(f"scores must hold one value per pair ({query.shape[0]}), got {labels.numel()}")
        if labels.dtype == torch.bool:
            labels = labels.int()
        cos = F.cosine_similarity(query.float(), target.float(), dim=-1) * self.scale
        # diff[i, j] = s·(c_j − c_i), kept where y_i > y_j.
        diff = cos.unsqueeze(0) - cos.unsqueeze(1)
        ordered = labels.unsqueeze(1) > labels.unsqueeze(0)
        terms = torch.cat([cos.new_zeros(1), diff[ordered]])
        return torch.logsumexp(terms, dim=0)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale}
