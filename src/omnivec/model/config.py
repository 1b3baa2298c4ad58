"""Architecture configuration: what a model is made of, as validated data.

An architecture is a JSON document (see ``architectures/*.json``) validated by :class:`ArchitectureConfig`.
Every tower names an HF ``model_type`` and its config values, or a local pretrained directory; nothing here
sniffs model names to decide behaviour: the few behaviour switches (encoder vs decoder backbone, audio encoder
kind) are explicit fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from omnivec.model.prompts import PromptConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class HFBackbone(_Strict):
    """An HF model given either by ``pretrained`` (a local directory, or ``package:NAME`` for a model shipped
    inside an installed Python package) or by ``model_type`` + ``config`` (random init)."""

    pretrained: str | None = None
    model_type: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    model_kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> HFBackbone:
        if self.pretrained is None and self.model_type is None:
            raise ValueError(
                "give either 'pretrained' (a local path or package:NAME) or 'model_type' + 'config'"
            )
        return self


class PerceiverConfig(_Strict):
    """Visual Perceiver (paper §3.2.3): N learnable latents attend jointly with all frames' patch tokens."""

    num_latents: int = Field(16, ge=1)
    width: int = Field(256, ge=8)
    depth: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    mlp_ratio: float = Field(4.0, gt=0)
    max_frames: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _heads_divide(self) -> PerceiverConfig:
        if self.width % self.heads:
            raise ValueError(
                f"perceiver.width ({self.width}) must be divisible by perceiver.heads ({self.heads})"
            )
        return self


class VisionConfig(_Strict):
    backbone: HFBackbone
    image_size: int = Field(64, ge=8)
    num_frames: int = Field(4, ge=1)
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    perceiver: PerceiverConfig = Field(default_factory=PerceiverConfig)


class AudioConfig(_Strict):
    """Audio tower (paper §3.2.4). ``encoder`` picks a registered encoder kind (``conv`` or ``clap``)."""

    encoder: Literal["conv", "clap"] = "conv"
    sampling_rate: int = Field(16000, ge=1000)
    window_seconds: float = Field(10.0, gt=0)
    min_tail_seconds: float = Field(1.0, ge=0)
    max_chunks: int = Field(6, ge=1)
    n_fft: int = Field(512, ge=16)
    hop_length: int = Field(320, ge=1)
    n_mels: int = Field(64, ge=8)
    f_min: float = 0.0
    f_max: float | None = None
    # conv encoder
    channels: list[int] = Field(default_factory=lambda: [32, 64, 128])
    output_dim: int = Field(256, ge=8)
    # clap encoder
    backbone: HFBackbone | None = None
    adapter: Literal["linear", "mlp"] = "mlp"

    @model_validator(mode="after")
    def _clap_needs_backbone(self) -> AudioConfig:
        if self.encoder == "clap" and self.backbone is None:
            raise ValueError(
                "audio.encoder 'clap' needs audio.backbone (model_type 'clap_audio_model' + config)"
            )
        return self


class FusionConfig(_Strict):
    backbone: HFBackbone
    kind: Literal["encoder", "decoder"] = Field(
        "encoder",
        description="encoder: BERT-like, already bidirectional; decoder: Qwen/Llama-like, causal mask removed",
    )
    tokenizer: str | None = Field(None, description="local dir or package:NAME; defaults to the backbone's")
    max_text_tokens: int = Field(256, ge=8)


class PoolingConfig(_Strict):
    matryoshka_dims: list[int] = Field(default_factory=list)

    @field_validator("matryoshka_dims")
    @classmethod
    def _sorted(cls, v: list[int]) -> list[int]:
        if v != sorted(set(v)) or any(d <= 0 for d in v):
            raise ValueError("pooling.matryoshka_dims must be positive, unique and increasing")
        return v


class ArchitectureConfig(_Strict):
    name: str
    description: str = ""
    fusion: FusionConfig
    vision: VisionConfig | None = None
    audio: AudioConfig | None = None
    pooling: PoolingConfig = Field(default_factory=PoolingConfig)
    prompts: PromptConfig = Field(default_factory=PromptConfig)
