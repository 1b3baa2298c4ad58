"""CRE training pieces: ID→item projection alignment and sequence encoders (paper §3.3.5, Fig. 7).

**ID-to-item distillation** (§3.3.5 (b)): the omni embedding is aligned with each recommender ID embedding
table through a feature projection. The paper leaves the side and the loss open (UNCONFIRMED); our choice:
one :class:`IDProjection` (linear, with bias) per ID table maps the *omni* embedding into the ID space, and
:func:`id_alignment_loss` compares it with the ID vector:

- ``cosine_mse``: ``mean(1 − cos(P·z, e)) + mean(‖P·z − e‖²) / d_id`` (zero iff ``P·z = e``);
- ``contrastive``: symmetric in-batch InfoNCE between ``normalize(P·z)`` and ``normalize(e)`` at
  ``temperature`` (ID vectors of *other* items are the negatives).

Rows whose item has no ID vector (cold start) are left out through ``mask``.

**Sequence-to-item distillation** (§3.3.5 (a)): the history is encoded into one vector and trained against
the target item with NCE. :data:`SEQUENCE_ENCODERS` holds ``mean`` (mean of the history item embeddings,
re-normalised: the paper's default) and ``transformer`` (a small transformer with a learned summary token,
3 layers by default). ``forward(history_emb [B, L, D], mask [B, L]) -> [B, D]``, L2-normalised; ``mask`` is
True for real items. Histories are padded on the right (oldest first, real items first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from omnivec.errors import ConfigError

AlignmentKind = Literal["cosine_mse", "contrastive"]


class IDProjection(nn.Module):
    """Linear map from the omni-embedding space (``dim_in``) to one ID table's space (``dim_id``)."""

    def __init__(self, dim_in: int, dim_id: int, bias: bool = True) -> None:
        super().__init__()
        self.dim_in, self.dim_id = dim_in, dim_id
        self.linear = nn.Linear(dim_in, dim_id, bias=bias)

    def forward(self, omni_emb: torch.Tensor) -> torch.Tensor:
        return self.linear(omni_emb)


def id_alignment_loss(
    omni_emb: torch.Tensor,
    id_emb: torch.Tensor,
    projection: nn.Module,
    kind: AlignmentKind = "cosine_mse",
    temperature: float = 0.05,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Feature-distillation loss between ``projection(omni_emb)`` [B, d_id] and ``id_emb`` [B, d_id].

    ``mask`` [B] (bool) keeps the rows whose item has an ID vector; with no row left the loss is 0 (still
    attached to the graph, so a step on a batch of cold items is a no-op, not an error).
    """
    proj = projection(omni_emb)
    if proj.shape != id_emb.shape:
        raise ConfigError(
            f"projection output {tuple(proj.shape)} does not match ID embeddings {tuple(id_emb.shape)}"
        )
    if mask is not None:
        proj, id_emb = proj[mask], id_emb[mask]
    if proj.shape[0] == 0:
        return proj.sum() * 0.0
    id_emb = id_emb.to(proj.dtype)
    if kind == "cosine_mse":
        cos = F.cosine_similarity(proj, id_emb, dim=-1)
        return (1.0 - cos).mean() + F.mse_loss(proj, id_emb)
    if kind == "contrastive":
        logits = F.normalize(proj, dim=-1) @ F.normalize(id_emb, dim=-1).T / temperature
        labels = torch.arange(len(logits), device=logits.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
    raise ConfigError(f"id alignment kind {kind!r} is unknown; expected 'cosine_mse' or 'contrastive'")


class IDAlignmentHead(nn.Module):
    """One :class:`IDProjection` per named ID table; the loss is the (weighted) sum over tables."""

    def __init__(self, dim_in: int, id_dims: dict[str, int], weights: dict[str, float] | None = None) -> None:
        super().__init__()
        self.projections = nn.ModuleDict({name: IDProjection(dim_in, d) for name, d in id_dims.items()})
        self.weights = {name: (weights or {}).get(name, 1.0) for name in id_dims}

    @torch.no_grad()
    def init_ridge(
        self,
        omni: Mapping[str, np.ndarray],
        tables: Mapping[str, Mapping[str, np.ndarray]],
        alpha: float = 1.0,
        min_items: int = 8,
    ) -> dict[str, int]:
        """Start each projection at the ridge regression of the ID vectors on the omni embeddings of the items
        both maps hold (``min_items`` at least, else :class:`ConfigError`). Returns the items used per table."""
        used: dict[str, int] = {}
        for name, proj in self.projections.items():
            ids = [i for i in tables[name] if i in omni]
            if len(ids) < min_items:
                raise ConfigError(
                    f"ID projection {name!r}: ridge start needs item embeddings of at least {min_items} items "
                    f"with ID vectors, found {len(ids)} (set cre.id_init: random)"
                )
            w, b = ridge_map(
                np.stack([omni[i] for i in ids]), np.stack([tables[name][i] for i in ids]), alpha
            )
            proj.linear.weight.copy_(torch.from_numpy(w.T))
            if proj.linear.bias is not None:
                proj.linear.bias.copy_(torch.from_numpy(b))
            used[name] = len(ids)
        return used

    def forward(
        self,
        omni_emb: torch.Tensor,
        id_embs: dict[str, torch.Tensor],
        masks: dict[str, torch.Tensor] | None = None,
        kind: AlignmentKind = "cosine_mse",
        temperature: float = 0.05,
    ) -> torch.Tensor:
        total = omni_emb.new_zeros(())
        for name, proj in self.projections.items():
            if name in id_embs:
                m = None if masks is None else masks.get(name)
                loss = id_alignment_loss(omni_emb, id_embs[name], proj, kind, temperature, m)
                total = total + self.weights[name] * loss
        return total


def ridge_map(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(W [d_in, d_out], b [d_out])`` minimising ``‖(x − x̄)W + b − y‖² + alpha‖W‖²`` (float32).

    Not :func:`omnivec.evaluation.consistency.linear_map`: that one penalises the bias too and scales alpha
    with the Gram trace (right for a probe); a projection's start wants a free intercept and a plain alpha."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xm, ym = x.mean(0), y.mean(0)
    xc = x - xm
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - ym))
    return w.astype(np.float32), (ym - xm @ w).astype(np.float32)


class SequenceEncoderConfig(BaseModel):
    """Which sequence encoder and its size (paper: mean pooling by default, or a 3-layer transformer)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field("mean", description="a key of SEQUENCE_ENCODERS: mean | centred | transformer | yours")
    dim: int = Field(64, ge=1, description="item embedding dimension D")
    layers: int = Field(3, ge=1, description="transformer layers (paper: 3)")
    heads: int = Field(4, ge=1)
    ff_mult: int = Field(2, ge=1, description="feed-forward width = ff_mult · D")
    dropout: float = Field(0.0, ge=0, lt=1)
    max_len: int = Field(64, ge=1, description="longest history (learned positions)")
    positions: bool = Field(True, description="add learned position embeddings (order matters)")


class MeanSequenceEncoder(nn.Module):
    """Masked mean of the history embeddings, L2-normalised (an all-padding row gives the zero vector)."""

    def __init__(self, config: SequenceEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or SequenceEncoderConfig()

    #: whether the encoder needs ``set_centre(catalogue centroid)`` before use (the CRE runner provides it)
    needs_centre: ClassVar[bool] = False

    def forward(self, history_emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(masked_mean(history_emb, mask), dim=-1)


def masked_mean(history_emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the unmasked positions of each row; an all-padding row gives the zero vector."""
    m = mask.to(history_emb.dtype).unsqueeze(-1)
    return (history_emb * m).sum(1) / m.sum(1).clamp_min(1.0)


class CentredMeanSequenceEncoder(MeanSequenceEncoder):
    """Masked mean of the history embeddings minus a fixed catalogue centroid, L2-normalised.

    Trained spaces are anisotropic: every item sits close to the centroid, so a plain mean points at the
    centroid for every user and its NCE gradient says little about the user. Subtracting the centroid keeps
    what differs between users. The centroid is a buffer (saved, not learned), set with :meth:`set_centre`
    from the item embeddings of the model at the start of CRE; the evaluation's ``user_vector: centred`` does
    the same with the evaluated model's corpus centroid. An all-padding row gives the zero vector.
    """

    needs_centre: ClassVar[bool] = True

    def __init__(self, config: SequenceEncoderConfig | None = None) -> None:
        super().__init__(config or SequenceEncoderConfig(kind="centred"))
        self.register_buffer("centre", torch.zeros(0))

    def set_centre(self, centre: np.ndarray | torch.Tensor) -> None:
        self.centre = torch.as_tensor(np.asarray(centre, dtype=np.float32)).reshape(-1)

    def forward(self, history_emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.centre.numel() != history_emb.shape[-1]:
            raise ConfigError(
                f"centred sequence encoder: centre has {self.centre.numel()} values, the history embeddings "
                f"{history_emb.shape[-1]} (call set_centre with the catalogue centroid first)"
            )
        mean = masked_mean(history_emb, mask)
        centred = (mean - self.centre.to(mean)) * mask.any(1, keepdim=True).to(mean.dtype)
        return F.normalize(centred, dim=-1)


class TransformerSequenceEncoder(nn.Module):
    """Transformer over ``[summary token; history]``; the summary token's output is the sequence vector.

    Padding keys are masked out, so padded positions never change the output.
    """

    def __init__(self, config: SequenceEncoderConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or SequenceEncoderConfig(kind="transformer")
        if cfg.dim % cfg.heads:
            raise ConfigError(f"sequence encoder: dim {cfg.dim} is not divisible by heads {cfg.heads}")
        self.summary = nn.Parameter(torch.randn(1, 1, cfg.dim) * 0.02)
        self.positions = nn.Parameter(torch.zeros(1, cfg.max_len, cfg.dim)) if cfg.positions else None
        layer = nn.TransformerEncoderLayer(
            cfg.dim, cfg.heads, cfg.ff_mult * cfg.dim, cfg.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, history_emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, d = history_emb.shape
        if length > self.config.max_len:
            raise ConfigError(f"sequence encoder: history length {length} > max_len {self.config.max_len}")
        x = history_emb
        if self.positions is not None:
            x = x + self.positions[:, :length]
        x = torch.cat([self.summary.expand(b, 1, d).to(x.dtype), x], dim=1)
        pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=mask.device), ~mask.bool()], dim=1)
        out = self.encoder(x, src_key_padding_mask=pad)
        return F.normalize(self.norm(out[:, 0]), dim=-1)


SEQUENCE_ENCODERS: dict[str, type[nn.Module]] = {
    "mean": MeanSequenceEncoder,
    "centred": CentredMeanSequenceEncoder,
    "transformer": TransformerSequenceEncoder,
}


def build_sequence_encoder(config: SequenceEncoderConfig | dict | None = None) -> nn.Module:
    """The registered encoder named by ``config.kind``."""
    try:
        cfg = SequenceEncoderConfig.model_validate(config or {})
    except ValueError as exc:
        raise ConfigError(f"invalid sequence encoder config: {exc}") from None
    if cfg.kind not in SEQUENCE_ENCODERS:
        raise ConfigError(
            f"sequence encoder {cfg.kind!r} is unknown; expected one of {sorted(SEQUENCE_ENCODERS)}"
        )
    return SEQUENCE_ENCODERS[cfg.kind](cfg)
