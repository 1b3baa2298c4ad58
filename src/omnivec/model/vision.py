"""Vision tower: an HF vision encoder applied per frame, then the Visual Perceiver (paper §3.2.3).

Input features (from :class:`~omnivec.model.omni_input.OmniInput`): ``pixel_values`` ``[F, 3, H, W]`` holding
every frame of every item of the batch, ``frame_owner`` ``[F]`` (batch index of the item each frame belongs
to, non-decreasing) and ``frame_index`` ``[F]`` (position of the frame within its item).

Output features: ``vision_tokens`` ``[Bv, N, fusion_width]`` (the N latent outputs per item that has vision),
``vision_items`` ``[Bv]`` (their batch indices) and ``vision_pooled`` ``[Bv, fusion_width]`` (mean of the N
tokens; the visual embedding used by the late-fusion loss). Whatever the number of frames or the resolution,
each item gets exactly N tokens.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from omnivec.model.base import SavedModule
from omnivec.model.config import PerceiverConfig, VisionConfig
from omnivec.model.hf import build_backbone, config_from_dict, from_config, hidden_size


class VisualPerceiver(nn.Module):
    """N learnable latents concatenated with all patch tokens of an item, self-attention blocks, keep N."""

    def __init__(self, cfg: PerceiverConfig, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.in_proj = nn.Linear(in_dim, cfg.width)
        self.latents = nn.Parameter(torch.randn(cfg.num_latents, cfg.width) * 0.02)
        self.frame_embed = nn.Embedding(cfg.max_frames, cfg.width)
        nn.init.normal_(self.frame_embed.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=cfg.width,
            nhead=cfg.heads,
            dim_feedforward=int(cfg.width * cfg.mlp_ratio),
            dropout=cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, num_layers=cfg.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)
        self.out_proj = nn.Linear(cfg.width, out_dim)

    def forward(
        self, patch_tokens: Tensor, frame_owner: Tensor, frame_index: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``patch_tokens`` [F, P, D] → (latent outputs [Bv, N, out_dim], item ids [Bv])."""
        x = self.in_proj(patch_tokens)
        x = x + self.frame_embed(frame_index.clamp(max=self.cfg.max_frames - 1))[:, None, :]
        items, counts = torch.unique_consecutive(frame_owner, return_counts=True)
        per_item = [chunk.reshape(-1, x.shape[-1]) for chunk in torch.split(x, counts.tolist())]
        lengths = torch.tensor([t.shape[0] for t in per_item], device=x.device)
        tokens = pad_sequence(per_item, batch_first=True)  # [Bv, T, W]
        n = self.cfg.num_latents
        latents = self.latents.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        seq = torch.cat([latents, tokens], dim=1)
        positions = torch.arange(tokens.shape[1], device=x.device)
        pad = positions[None, :] >= lengths[:, None]
        pad = torch.cat([torch.zeros(pad.shape[0], n, dtype=torch.bool, device=x.device), pad], dim=1)
        out = self.blocks(seq, src_key_padding_mask=pad)
        return self.out_proj(self.norm(out[:, :n])), items


class VisionTower(SavedModule):
    """HF vision encoder (ViT, SigLIP vision, ...) per frame + Visual Perceiver → N tokens of fusion width."""

    config_keys = ["vision", "fusion_width", "hf_config"]  # noqa: RUF012
    config_file_name = "omnivec_vision.json"

    def __init__(
        self,
        vision: dict[str, Any],
        fusion_width: int,
        hf_config: dict[str, Any] | None = None,
        backbone: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.cfg = VisionConfig.model_validate(vision)
        self.vision = self.cfg.model_dump(mode="json")
        self.fusion_width = fusion_width
        if backbone is None:
            if hf_config is not None:
                backbone = from_config(config_from_dict(hf_config), self.cfg.backbone.model_kwargs)
            else:
                backbone = build_backbone(self.cfg.backbone, field="vision.backbone")
        self.backbone = backbone
        self.hf_config = backbone.config.to_dict()
        self.perceiver = VisualPerceiver(self.cfg.perceiver, hidden_size(backbone.config), fusion_width)

    @property
    def num_tokens(self) -> int:
        return self.cfg.perceiver.num_latents

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        pixels: Tensor | None = features.get("pixel_values")
        if pixels is None or pixels.shape[0] == 0:
            return features
        hidden = self.backbone(pixel_values=pixels).last_hidden_state
        tokens, items = self.perceiver(hidden, features["frame_owner"], features["frame_index"])
        features["vision_tokens"] = tokens
        features["vision_items"] = items
        features["vision_pooled"] = tokens.mean(dim=1)
        return features
