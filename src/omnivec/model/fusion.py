"""Fusion: an HF language model over ``[audio ; vision ; text]`` inside the prompt, bidirectional (§3.2.5).

Input features: ``input_ids`` / ``attention_mask`` ``[B, L]`` of the rendered prompt, ``slot_type`` ``[B, L]``
(0 = token, 1 = audio slot, 2 = vision slot), plus the towers' ``audio_tokens``/``audio_items`` and
``vision_tokens``/``vision_items``. The word embeddings of the prompt are computed by the LM's own (trainable)
embedding layer and the slot positions are overwritten, in order, by the towers' tokens.

Encoder backbones (BERT/MiniLM) are bidirectional already. Decoder backbones (Qwen2, Llama, ...) get a
bidirectional padding mask in place of the causal one, and their attention modules' ``is_causal`` flag is
cleared so no kernel re-applies causality. Output: ``token_embeddings`` ``[B, L, H]``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from omnivec.model.base import SavedModule
from omnivec.model.config import FusionConfig
from omnivec.model.hf import build_backbone, config_from_dict, from_config, hidden_size

SLOT_TOKEN, SLOT_AUDIO, SLOT_VISION = 0, 1, 2


def _bidirectional_mask(padding_mask: Tensor, dtype: torch.dtype) -> Tensor:
    """[B, L] padding mask → additive [B, 1, L, L] mask letting every query see every real key."""
    keep = padding_mask[:, None, None, :].to(torch.bool)
    neg = torch.finfo(dtype).min
    return (
        torch.zeros(keep.shape, dtype=dtype, device=padding_mask.device)
        .masked_fill(~keep, neg)
        .expand(-1, 1, padding_mask.shape[1], -1)
    )


class Fusion(SavedModule):
    config_keys = ["fusion", "hf_config"]  # noqa: RUF012
    config_file_name = "omnivec_fusion.json"

    def __init__(
        self,
        fusion: dict[str, Any],
        hf_config: dict[str, Any] | None = None,
        backbone: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.cfg = FusionConfig.model_validate(fusion)
        self.fusion = self.cfg.model_dump(mode="json")
        if backbone is None:
            if hf_config is not None:
                backbone = from_config(config_from_dict(hf_config), self.cfg.backbone.model_kwargs)
            else:
                backbone = build_backbone(self.cfg.backbone, field="fusion.backbone")
        self.backbone = backbone
        self.hf_config = backbone.config.to_dict()
        if self.cfg.kind == "decoder":
            self._make_bidirectional()

    @property
    def width(self) -> int:
        return hidden_size(self.backbone.config)

    def _make_bidirectional(self) -> None:
        for module in self.backbone.modules():
            if hasattr(module, "is_causal"):
                module.is_causal = False

    def embed(self, features: dict[str, Any]) -> Tensor:
        """Prompt word embeddings with the audio and vision slots filled by the towers' tokens."""
        embeds = self.backbone.get_input_embeddings()(features["input_ids"])
        slot_type = features["slot_type"]
        for slot, key in ((SLOT_AUDIO, "audio_tokens"), (SLOT_VISION, "vision_tokens")):
            mask = slot_type == slot
            n_slots = int(mask.sum())
            if n_slots == 0:
                continue
            tokens = features.get(key)
            if tokens is None or tokens.shape[0] * tokens.shape[1] != n_slots:
                have = 0 if tokens is None else tokens.shape[0] * tokens.shape[1]
                raise RuntimeError(
                    f"fusion: {n_slots} {key} slots in the prompt but the tower produced {have}"
                )
            embeds = embeds.masked_scatter(
                mask.unsqueeze(-1), tokens.to(embeds.dtype).reshape(-1, embeds.shape[-1])
            )
        return embeds

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        embeds = self.embed(features)
        mask = features["attention_mask"]
        if self.cfg.kind == "decoder":
            full = _bidirectional_mask(mask, embeds.dtype)
            layer_types = set(getattr(self.backbone.config, "layer_types", None) or ["full_attention"])
            attn: Any = {t: full for t in layer_types | {"full_attention"}}
            out = self.backbone(inputs_embeds=embeds, attention_mask=attn, use_cache=False)
        else:
            out = self.backbone(inputs_embeds=embeds, attention_mask=mask)
        features["token_embeddings"] = out.last_hidden_state
        return features
