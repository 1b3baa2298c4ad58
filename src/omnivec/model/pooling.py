"""Pooling: ``z = masked_mean(tanh(H))`` over every real token, prompt included (§3.2.5).

The paper does not say whether instruction tokens are excluded; we include them ("mean pooling over all
token embeddings") and mask only padding. The Matryoshka dimensions (leading slices re-normalised, §3.3.2)
are recorded here so every consumer (training losses, ``encode(dimensions=...)``, the server) reads one list.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from omnivec.model.base import SavedModule


def tanh_mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (torch.tanh(hidden) * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


class TanhMeanPooling(SavedModule):
    config_keys = ["dimension", "matryoshka_dims"]  # noqa: RUF012
    config_file_name = "omnivec_pooling.json"

    def __init__(self, dimension: int, matryoshka_dims: list[int] | None = None) -> None:
        super().__init__()
        self.dimension = dimension
        dims = sorted(set(matryoshka_dims or []) | {dimension})
        if dims[-1] != dimension:
            raise ValueError(f"matryoshka_dims {dims} exceed the embedding dimension {dimension}")
        self.matryoshka_dims = dims

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        features["sentence_embedding"] = tanh_mean_pool(
            features["token_embeddings"], features["attention_mask"]
        )
        return features

    def save_torch_weights(self, output_path: str, safe_serialization: bool = True) -> None:
        """No weights; the config is all there is."""

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs: Any) -> TanhMeanPooling:
        hub = {k: kwargs[k] for k in ("token", "cache_folder", "revision", "local_files_only") if k in kwargs}
        return cls(**cls.load_config(model_name_or_path, subfolder=subfolder, **hub))
