"""Audio tower: log-mel (``torch.stft``) → CLAP-style encoder → mean over chunks → adapter → 1 token (§3.2.4).

Input features: ``audio_values`` ``[C, S]`` (every fixed-length window chunk of every item, already
repeat-and-padded by :func:`chunk_waveform`) and ``audio_owner`` ``[C]`` (batch index per chunk,
non-decreasing). Output features: ``audio_tokens`` ``[Ba, 1, fusion_width]`` and ``audio_items`` ``[Ba]``.

Chunk rule (the paper leaves the tail open; our choice): a clip no longer than the window is tiled whole
as many times as fits and zero-padded to the window; a longer clip is cut into non-overlapping windows, and a
last partial window is kept (repeat-and-padded) only if it lasts at least ``min_tail_seconds``; at most
``max_chunks`` windows, evenly spread over the clip, are encoded. Chunk features are averaged per item
*before* the adapter, as in the paper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from transformers.audio_utils import mel_filter_bank

from omnivec.model.base import SavedModule
from omnivec.model.config import AudioConfig
from omnivec.model.hf import build_backbone, config_from_dict, from_config


def repeat_and_pad(wave: np.ndarray, window: int) -> np.ndarray:
    """Tile ``wave`` whole as often as it fits in ``window`` samples, then zero-pad to exactly ``window``."""
    n = len(wave)
    if n == 0:
        raise ValueError("empty waveform")
    if n >= window:
        return wave[:window].astype(np.float32, copy=False)
    out = np.zeros(window, dtype=np.float32)
    reps = window // n
    out[: reps * n] = np.tile(wave, reps)
    return out


def chunk_waveform(wave: np.ndarray, window: int, min_tail: int, max_chunks: int) -> np.ndarray:
    """Split a mono waveform into ``[C, window]`` chunks following the module's chunk rule."""
    n = len(wave)
    if n <= window:
        return repeat_and_pad(wave, window)[None, :]
    full, tail = divmod(n, window)
    chunks = [wave[i * window : (i + 1) * window] for i in range(full)]
    if tail and tail >= max(min_tail, 1):
        chunks.append(repeat_and_pad(wave[full * window :], window))
    if len(chunks) > max_chunks:
        keep = np.linspace(0, len(chunks) - 1, max_chunks).round().astype(int)
        chunks = [chunks[i] for i in keep]
    return np.stack(chunks).astype(np.float32, copy=False)


class LogMel(nn.Module):
    """Log-mel spectrogram with ``torch.stft``, instance-normalised per chunk: ``[C, S]`` → ``[C, T, n_mels]``."""

    def __init__(self, cfg: AudioConfig) -> None:
        super().__init__()
        self.n_fft, self.hop = cfg.n_fft, cfg.hop_length
        fb = mel_filter_bank(
            num_frequency_bins=cfg.n_fft // 2 + 1,
            num_mel_filters=cfg.n_mels,
            min_frequency=cfg.f_min,
            max_frequency=cfg.f_max or cfg.sampling_rate / 2,
            sampling_rate=cfg.sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        self.register_buffer("filters", torch.from_numpy(fb).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)

    def forward(self, wave: Tensor) -> Tensor:
        spec = torch.stft(wave, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        power = spec.abs().pow(2).transpose(1, 2)  # [C, T, F]
        mel = torch.log(power @ self.filters + 1e-6)
        return nn.functional.layer_norm(mel, mel.shape[-2:], eps=1e-4)


class ConvAudioEncoder(nn.Module):
    """A small CNN over the log-mel image: conv blocks, then mean+max pooling over time and frequency."""

    def __init__(self, cfg: AudioConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c in cfg.channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.GroupNorm(1, c), nn.GELU(), nn.MaxPool2d(2)]
            c_in = c
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Linear(2 * c_in, cfg.output_dim)
        self.output_dim = cfg.output_dim

    def forward(self, mel: Tensor) -> Tensor:
        h = self.convs(mel.unsqueeze(1))
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=-1)
        return self.proj(pooled)


class ClapEncoder(nn.Module):
    """HF ``ClapAudioModel`` (HTSAT) fed with our log-mel; its pooled output is the chunk feature."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        with torch.no_grad():
            bins = backbone.config.num_mel_bins
            probe = backbone(input_features=torch.zeros(1, 1, 64, bins)).pooler_output
        self.output_dim = int(probe.shape[-1])

    def forward(self, mel: Tensor) -> Tensor:
        return self.backbone(input_features=mel.unsqueeze(1)).pooler_output


#: Registry of audio encoder kinds: name → builder(config, hf_config) → (module, hf_config dict | None).
AUDIO_ENCODERS: dict[str, Callable[[AudioConfig, dict[str, Any] | None], tuple[nn.Module, dict | None]]] = {}


def _register(name: str):
    def deco(fn):
        AUDIO_ENCODERS[name] = fn
        return fn

    return deco


@_register("conv")
def _build_conv(cfg: AudioConfig, hf_config: dict[str, Any] | None) -> tuple[nn.Module, dict | None]:
    return ConvAudioEncoder(cfg), None


@_register("clap")
def _build_clap(cfg: AudioConfig, hf_config: dict[str, Any] | None) -> tuple[nn.Module, dict | None]:
    assert cfg.backbone is not None  # validated by AudioConfig
    if hf_config is not None:
        backbone = from_config(config_from_dict(hf_config), cfg.backbone.model_kwargs)
    else:
        backbone = build_backbone(cfg.backbone, field="audio.backbone")
    return ClapEncoder(backbone), backbone.config.to_dict()


class AudioTower(SavedModule):
    """Audio chunks → one fusion-width token per item that has audio."""

    config_keys = ["audio", "fusion_width", "hf_config"]  # noqa: RUF012
    config_file_name = "omnivec_audio.json"

    def __init__(
        self, audio: dict[str, Any], fusion_width: int, hf_config: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.cfg = AudioConfig.model_validate(audio)
        self.audio = self.cfg.model_dump(mode="json")
        self.fusion_width = fusion_width
        self.mel = LogMel(self.cfg)
        self.encoder, self.hf_config = AUDIO_ENCODERS[self.cfg.encoder](self.cfg, hf_config)
        d = self.encoder.output_dim
        if self.cfg.adapter == "linear":
            self.adapter: nn.Module = nn.Linear(d, fusion_width)
        else:
            self.adapter = nn.Sequential(
                nn.Linear(d, fusion_width), nn.GELU(), nn.Linear(fusion_width, fusion_width)
            )

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        wave: Tensor | None = features.get("audio_values")
        if wave is None or wave.shape[0] == 0:
            return features
        chunk_feats = self.encoder(self.mel(wave))  # [C, d]
        items, owner_idx = torch.unique_consecutive(features["audio_owner"], return_inverse=True)
        sums = torch.zeros(
            len(items), chunk_feats.shape[-1], dtype=chunk_feats.dtype, device=chunk_feats.device
        )
        sums = sums.index_add(0, owner_idx, chunk_feats)
        counts = torch.bincount(owner_idx, minlength=len(items)).clamp(min=1).unsqueeze(-1)
        features["audio_tokens"] = self.adapter(sums / counts).unsqueeze(1)
        features["audio_items"] = items
        return features
