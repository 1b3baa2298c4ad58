"""NCE-MRL: InfoNCE with a learnable per-source temperature, summed over Matryoshka slices.

SAIL-Embedding §3.3.2, eq. 2 and the MRL paragraph (``papers.md`` §4.4 (i)); hard negatives and
false-negative removal follow §3.1.2 (``papers.md`` §3.2).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnivec.errors import ConfigError
from omnivec.training.distributed import gather, gather_with_grad, get_world_size, local_offset
from omnivec.training.losses.functional import masked_info_nce

__all__ = ["NCEMRLLoss"]

_RESERVED = frozenset(dir(nn.ParameterDict()))


def _validate_dims(dims: Sequence[int]) -> list[int]:
    dims = list(dims)
    if not dims:
        raise ConfigError("dims: at least one Matryoshka dimension is required")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise ConfigError(f"dims: every dimension must be a positive int, got {d!r}")
    if any(b <= a for a, b in itertools.pairwise(dims)):
        raise ConfigError(f"dims: must be strictly increasing, got {dims}")
    return dims


def _excluded(candidate_groups: Tensor, excluded: Tensor) -> Tensor:
    """``candidate_groups`` ``[N]`` or ``[B, K]``; ``excluded`` ``[B, G]`` → bool ``[B, N]`` / ``[B, K]``.

    Negative group ids mean "no group" and never match.
    """
    if candidate_groups.dim() == 1:
        candidate_groups = candidate_groups.unsqueeze(0)  # [1, N]
    hit = candidate_groups.unsqueeze(-1) == excluded.unsqueeze(1)  # [B, N, G]
    hit &= (excluded >= 0).unsqueeze(1)
    return hit.any(-1)


class NCEMRLLoss(nn.Module):
    r"""InfoNCE over Matryoshka slices with a learnable temperature per training source.

    For every Matryoshka width ``d`` in ``dims`` the leading ``d`` coordinates of each embedding are
    re-normalised and scored by cosine; for query ``i`` with positive ``t_i``:

    .. math::

        \ell_i^{(d)} = -\log \frac{e^{c(q_i, t_i)/\tau_s}}
            {e^{c(q_i, t_i)/\tau_s} + \sum_{n \in \mathcal{N}_i} e^{c(q_i, n)/\tau_s}},
        \qquad L = \sum_{d \in \text{dims}} \operatorname{mean}_i \ell_i^{(d)}

    where ``τ_s = max(exp(log τ_s), min_temperature)`` is the temperature of the batch's source ``s``
    and ``𝒩_i`` holds every other target of the batch (of all ranks when
    ``gather_across_processes``), plus the hard negatives, minus **false negatives**: a candidate whose
    group id equals the group of query ``i``'s positive target or of query ``i`` itself (same item,
    known duplicate), other than the positive. Masked-out hard negatives are dropped too.

    Inputs (``forward``):
        query, target: ``[B, D]`` embeddings (any scale, they are normalised per slice); row ``i`` of
            ``target`` is the positive of row ``i`` of ``query``. ``D ≥ max(dims)``.
        source: name of the training source; selects the temperature. Must be configured.
        hard_negatives: optional ``[B, K, D]``; ``hard_negatives[i]`` are negatives of query ``i``
            (only of query ``i``, unless ``share_hard_negatives``, in which case every query of every
            rank sees them).
        hard_negative_mask: optional ``[B, K]`` bool, ``True`` = a real negative, ``False`` = padding.
        query_groups, target_groups: optional ``[B]`` long group ids (item id, duplicate cluster);
            negative = no group.
        hard_negative_groups: optional ``[B, K]`` long group ids of the hard negatives.
        target_log_q: optional ``[B]`` log-probability that each target is drawn as a target (its share of
            the source's rows). Subtracted from the in-batch logits (after ``/τ``): the *sampling-bias
            correction* of Yi et al. (RecSys 2019). Without it, in-batch softmax meets popular items as
            negatives as often as they are positives and learns similarity with popularity divided out;
            with it, the scores estimate the full softmax, popularity included (hard negatives are left
            as they are).

        Under ``gather_across_processes`` every rank must pass the same set of optional arguments
        (the gathers are collectives).

    Returns a dict: ``loss`` (scalar to back-propagate), ``loss_dim_{d}`` per slice, and, detached for
    logging, ``negatives_per_query`` (mean count of unmasked negatives per query) and ``temperature``.

    When to use: every contrastive (query, target) source; pass hard negatives in the hard-negative
    stage (Stage III) and group ids whenever items can repeat or have known duplicates in a batch.
    Temperatures are per source (``papers.md`` §4.4: "initialised differently for each task and each
    dataset"); all parameters exist at construction so the optimizer sees them. With DDP, the rank-
    local mean plus the summing backward of the gather reproduces the single-process gradient: see
    :mod:`omnivec.training.distributed`. Keep the temperatures out of weight decay.

    Args:
        dims: strictly increasing Matryoshka widths, e.g. ``[64, 128, 384]``; each term has weight 1.
        temperatures: source name → initial temperature (``None`` = ``default_temperature``).
        default_temperature: initial temperature for sources configured with ``None``.
        learnable_temperature: if False the temperatures stay at their initial values.
        min_temperature: lower clamp of every temperature (a clamped temperature gets no gradient).
        gather_across_processes: add the targets (and shared hard negatives) of every rank as negatives.
        share_hard_negatives: make every hard negative a candidate of every query, not only of its own.
    """

    def __init__(
        self,
        dims: Sequence[int],
        temperatures: Mapping[str, float | None],
        default_temperature: float = 0.05,
        learnable_temperature: bool = True,
        min_temperature: float = 0.005,
        gather_across_processes: bool = False,
        share_hard_negatives: bool = False,
    ) -> None:
        super().__init__()
        self.dims = _validate_dims(dims)
        if not min_temperature > 0:
            raise ConfigError(f"min_temperature: must be > 0, got {min_temperature!r}")
        if not default_temperature >= min_temperature:
            raise ConfigError(
                f"default_temperature: must be >= min_temperature ({min_temperature}), got {default_temperature!r}"
            )
        if not temperatures:
            raise ConfigError("temperatures: configure at least one source")
        self.min_temperature = float(min_temperature)
        self.default_temperature = float(default_temperature)
        self.learnable_temperature = learnable_temperature
        self.gather_across_processes = gather_across_processes
        self.share_hard_negatives = share_hard_negatives
        params: dict[str, nn.Parameter] = {}
        for name, value in temperatures.items():
            if not isinstance(name, str) or not name or "." in name or name in _RESERVED:
                raise ConfigError(
                    f"temperatures: invalid source name {name!r} (non-empty, no '.', not a reserved "
                    "attribute name such as 'train' or 'keys')"
                )
            tau = self.default_temperature if value is None else float(value)
            if not (math.isfinite(tau) and tau >= self.min_temperature):
                raise ConfigError(
                    f"temperatures.{name}: must be a finite value >= min_temperature "
                    f"({self.min_temperature}), got {value!r}"
                )
            params[name] = nn.Parameter(torch.tensor(math.log(tau)), requires_grad=learnable_temperature)
        self.log_temperature = nn.ParameterDict(params)

    @property
    def sources(self) -> list[str]:
        """Configured source names."""
        return list(self.log_temperature.keys())

    def temperature(self, source: str) -> Tensor:
        """Current temperature of ``source`` (differentiable when learnable)."""
        if source not in self.log_temperature:
            raise ConfigError(
                f"temperatures: unknown source {source!r}; configured sources are {self.sources}. "
                "Add it to the loss configuration before building the optimizer."
            )
        return self.log_temperature[source].exp().clamp(min=self.min_temperature)

    def forward(
        self,
        query: Tensor,
        target: Tensor,
        *,
        source: str,
        hard_negatives: Tensor | None = None,
        hard_negative_mask: Tensor | None = None,
        query_groups: Tensor | None = None,
        target_groups: Tensor | None = None,
        hard_negative_groups: Tensor | None = None,
        target_log_q: Tensor | None = None,
    ) -> dict[str, Tensor]:
        tau = self.temperature(source)
        self._check_shapes(query, target, hard_negatives, hard_negative_mask, hard_negative_groups)
        b, device = query.shape[0], query.device
        gather_on = self.gather_across_processes and get_world_size() > 1

        # Candidates: all targets (of all ranks), positive of local query i at column offset + i.
        targets = gather_with_grad(target) if gather_on else target
        offset = local_offset(b, device) if gather_on else 0
        positive = torch.arange(b, device=device) + offset

        # Groups each query must not see as negatives: its positive's and its own.
        excluded_cols = [g for g in (target_groups, query_groups) if g is not None]
        excluded = torch.stack(excluded_cols, dim=1) if excluded_cols else None

        valid_in = torch.ones(b, targets.shape[0], dtype=torch.bool, device=device)
        if target_groups is not None and excluded is not None:
            groups_all = gather(target_groups) if gather_on else target_groups
            valid_in &= ~_excluded(groups_all, excluded)

        hn, valid_hn = None, None
        if hard_negatives is not None:
            hn, valid_hn = self._hard_negatives(
                hard_negatives, hard_negative_mask, hard_negative_groups, excluded, gather_on
            )
        valid = valid_in if valid_hn is None else torch.cat([valid_in, valid_hn], dim=1)
        valid[torch.arange(b, device=device), positive] = True

        log_q = None
        if target_log_q is not None:
            log_q = gather(target_log_q) if gather_on else target_log_q
            log_q = log_q.to(device=device, dtype=torch.float32).unsqueeze(0)
        out: dict[str, Tensor] = {}
        total: Tensor | None = None
        for d in self.dims:
            q = F.normalize(query[:, :d].float(), dim=-1)
            t = F.normalize(targets[:, :d].float(), dim=-1)
            logits = q @ t.T
            if hn is not None:
                h = F.normalize(hn[..., :d].float(), dim=-1)
                hn_logits = q @ h.T if self.share_hard_negatives else torch.einsum("bd,bkd->bk", q, h)
                logits = torch.cat([logits, hn_logits], dim=1)
            scaled = logits / tau
            if (
                log_q is not None
            ):  # sampling-bias correction: in-batch candidates come as often as they are targets
                n = log_q.shape[1]
                scaled = torch.cat([scaled[:, :n] - log_q, scaled[:, n:]], dim=1)
            loss_d = masked_info_nce(scaled, positive, valid)
            out[f"loss_dim_{d}"] = loss_d
            total = loss_d if total is None else total + loss_d
        assert total is not None
        out["loss"] = total
        out["negatives_per_query"] = (valid.sum(dim=1) - 1).float().mean().detach()
        out["temperature"] = tau.detach()
        return out

    def _hard_negatives(
        self,
        hard_negatives: Tensor,
        mask: Tensor | None,
        groups: Tensor | None,
        excluded: Tensor | None,
        gather_on: bool,
    ) -> tuple[Tensor, Tensor]:
        b, k = hard_negatives.shape[:2]
        device = hard_negatives.device
        valid = mask.bool() if mask is not None else torch.ones(b, k, dtype=torch.bool, device=device)
        if not self.share_hard_negatives:
            if groups is not None and excluded is not None:
                valid = valid & ~_excluded(groups, excluded)
            return hard_negatives, valid
        flat = hard_negatives.reshape(b * k, -1)
        flat_valid = valid.reshape(-1)
        flat_groups = groups.reshape(-1) if groups is not None else None
        if gather_on:
            flat = gather_with_grad(flat)
            flat_valid = gather(flat_valid)
            flat_groups = gather(flat_groups) if flat_groups is not None else None
        shared_valid = flat_valid.unsqueeze(0).expand(b, -1)
        if flat_groups is not None and excluded is not None:
            shared_valid = shared_valid & ~_excluded(flat_groups, excluded)
        return flat, shared_valid

    def _check_shapes(
        self,
        query: Tensor,
        target: Tensor,
        hard_negatives: Tensor | None,
        mask: Tensor | None,
        groups: Tensor | None,
    ) -> None:
        if query.dim() != 2 or query.shape != target.shape:
            raise ValueError(
                f"query and target must both be [B, D], got {tuple(query.shape)} and {tuple(target.shape)}"
            )
        if query.shape[1] < self.dims[-1]:
            raise ConfigError(
                f"dims: largest Matryoshka dim {self.dims[-1]} exceeds embedding width {query.shape[1]}"
            )
        if hard_negatives is None:
            if mask is not None or groups is not None:
                raise ValueError("hard_negative_mask / hard_negative_groups given without hard_negatives")
            return
        b, d = query.shape
        if hard_negatives.dim() != 3 or hard_negatives.shape[0] != b or hard_negatives.shape[2] != d:
            raise ValueError(f"hard_negatives must be [B={b}, K, D={d}], got {tuple(hard_negatives.shape)}")
        for name, extra in (("hard_negative_mask", mask), ("hard_negative_groups", groups)):
            if extra is not None and extra.shape != hard_negatives.shape[:2]:
                raise ValueError(
                    f"{name} must be [B, K]={tuple(hard_negatives.shape[:2])}, got {tuple(extra.shape)}"
                )

    def get_config_dict(self) -> dict[str, Any]:
        """Settings for model cards / run records (the sentence-transformers loss convention)."""
        return {
            "dims": self.dims,
            "temperatures": {s: float(self.temperature(s).detach()) for s in self.sources},
            "learnable_temperature": self.learnable_temperature,
            "min_temperature": self.min_temperature,
            "gather_across_processes": self.gather_across_processes,
            "share_hard_negatives": self.share_hard_negatives,
        }
