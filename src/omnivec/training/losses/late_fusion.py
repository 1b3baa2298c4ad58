"""Late-fusion ("IF") loss: a gated mix of the visual and multimodal embeddings, trained with NCE.

SAIL-Embedding §3.3.2, eq. 5 (from NoteLLM-2); ``papers.md`` §4.4 (iv).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from omnivec.errors import ConfigError
from omnivec.training.losses.functional import info_nce

__all__ = ["LateFusionLoss"]


class LateFusionLoss(nn.Module):
    r"""Gate the visual embedding back into the multimodal one, then contrast the fused vectors.

    .. math::

        g = \sigma(W [v; m] + b), \qquad \hat m = g \odot v + (1 - g) \odot m, \qquad
        L = \mathrm{NCE}_\tau(\hat m^q, \hat m^t)

    with ``W ∈ R^{d×2d}`` (element-wise gate) and in-batch InfoNCE on cosine. ``W`` and ``b`` start
    at 0 (``g = ½``, an even mix); they are this loss's own parameters, so give them to the optimizer.

    Inputs (``forward``): ``q_visual``, ``q_multimodal``, ``t_visual``, ``t_multimodal`` ``[B, dim]``:
    ``v`` is the visual embedding (e.g. the pooled vision tower / perceiver output projected to ``dim``)
    and ``m`` the fused omni-modal embedding of each side; optional ``mask`` ``[B]`` bool keeps only the
    rows that have a visual embedding (fewer than 2 rows → exactly 0). :meth:`fuse` exposes ``m̂`` alone.

    When to use: sources with visual content, to preserve visual fidelity in the fused embedding
    (NoteLLM-2's motivation); weighted by ``β`` in the total loss.
    """

    def __init__(self, dim: int, temperature: float = 0.05) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
            raise ConfigError(f"dim: must be a positive int, got {dim!r}")
        if not temperature > 0:
            raise ConfigError(f"temperature: must be > 0, got {temperature!r}")
        self.dim = dim
        self.temperature = float(temperature)
        self.gate = nn.Linear(2 * dim, dim)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def fuse(self, visual: Tensor, multimodal: Tensor) -> Tensor:
        """``m̂ = g ⊙ v + (1 − g) ⊙ m`` with ``g = σ(W [v; m] + b)``; shapes ``[..., dim]``."""
        if visual.shape != multimodal.shape or visual.shape[-1] != self.dim:
            raise ValueError(
                f"visual and multimodal must both be [..., {self.dim}], got "
                f"{tuple(visual.shape)} and {tuple(multimodal.shape)}"
            )
        g = torch.sigmoid(self.gate(torch.cat([visual, multimodal], dim=-1)))
        return g * visual + (1 - g) * multimodal

    def forward(
        self,
        q_visual: Tensor,
        q_multimodal: Tensor,
        t_visual: Tensor,
        t_multimodal: Tensor,
        mask: Tensor | None = None,
    ) -> Tensor:
        if mask is not None:
            mask = mask.reshape(-1).bool()
            q_visual, q_multimodal = q_visual[mask], q_multimodal[mask]
            t_visual, t_multimodal = t_visual[mask], t_multimodal[mask]
        if q_visual.shape[0] < 2:
            return q_visual.new_zeros((), dtype=torch.float32)
        return info_nce(
            self.fuse(q_visual, q_multimodal), self.fuse(t_visual, t_multimodal), self.temperature
        )

    def get_config_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "temperature": self.temperature}
