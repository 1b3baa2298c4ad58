"""mICL: in-batch NCE within the vision views plus within the text views. SAIL-Embedding §3.3.2, eq. 4."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from omnivec.errors import ConfigError
from omnivec.training.losses.functional import info_nce

__all__ = ["MICLLoss"]


class MICLLoss(nn.Module):
    r"""Multimodal in-context loss (from NoteLLM-2): contrast each modality's view on its own.

    .. math::

        L = \mathrm{NCE}_\tau(n_v^q, n_v^t) + \mathrm{NCE}_\tau(n_t^q, n_t^t)

    where ``NCE_τ(a, b) = mean_i −log softmax_j(cos(a_i, b_j)/τ)[i]`` is in-batch InfoNCE. Each term
    uses only the rows that carry that modality on both sides (``vision_mask`` / ``text_mask``): the
    other rows are neither anchors nor candidates. A term with fewer than 2 valid rows has no negative
    and contributes exactly 0.

    Inputs (``forward``): ``q_vision``, ``t_vision``, ``q_text``, ``t_text`` ``[B, D]`` — the vision-only
    and text-only embeddings of the query and target sides (how the model produces them is the
    model's business, e.g. vision-only / text-only prompts); optional ``vision_mask`` / ``text_mask``
    ``[B]`` bool, ``True`` = the row has that modality (default: every row).

    When to use: sources whose items carry both images/video and text, to stop the fused model from
    ignoring the visual side (modality imbalance); weighted by ``α`` in the total loss.
    """

    def __init__(self, temperature: float = 0.05) -> None:
        super().__init__()
        if not temperature > 0:
            raise ConfigError(f"temperature: must be > 0, got {temperature!r}")
        self.temperature = float(temperature)

    def term(self, query: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        """One modality's NCE over the rows where ``mask`` is True (0 if fewer than 2 rows)."""
        if query.shape != target.shape or query.dim() != 2:
            raise ValueError(f"views must both be [B, D], got {tuple(query.shape)} and {tuple(target.shape)}")
        if mask is not None:
            mask = mask.reshape(-1).bool()
            if mask.numel() != query.shape[0]:
                raise ValueError(f"mask must be [B={query.shape[0]}], got {tuple(mask.shape)}")
            query, target = query[mask], target[mask]
        if query.shape[0] < 2:
            return query.new_zeros((), dtype=torch.float32)
        return info_nce(query, target, self.temperature)

    def forward(
        self,
        q_vision: Tensor,
        t_vision: Tensor,
        q_text: Tensor,
        t_text: Tensor,
        vision_mask: Tensor | None = None,
        text_mask: Tensor | None = None,
    ) -> Tensor:
        return self.term(q_vision, t_vision, vision_mask) + self.term(q_text, t_text, text_mask)

    def get_config_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature}
