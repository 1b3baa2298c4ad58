"""A trained sequence encoder beside a saved model: written by the CRE runner, read by evaluation.

A recipe with ``cre.sequence_encoder: {kind: transformer}`` learns the encoder's weights during the seq→item
stages. They are not part of the embedding model (items never pass through them), so they are saved as two
extra files in the model folder:

- ``sequence_encoder.json``: its :class:`~omnivec.recsys.alignment.SequenceEncoderConfig`;
- ``sequence_encoder.safetensors``: its state (safetensors only, never pickle).

Only encoders with learned parameters are saved. ``mean`` has none, and ``centred`` holds only the CRE-time
catalogue centroid: for both, the evaluation's ``user_vector`` (``mean`` / ``centred``, which takes the centroid of
the evaluated model's own corpus) is the same computation, so nothing is written and nothing changes.

:class:`SequenceVectors` turns the loaded encoder into the evaluation's ``embed_sequence`` hook: numpy histories
in, L2-normalised user vectors out.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from omnivec.errors import ConfigError
from omnivec.recsys.alignment import SequenceEncoderConfig, build_sequence_encoder
from omnivec.utils.io import atomic_file, read_json, write_json

CONFIG_FILE = "sequence_encoder.json"
WEIGHTS_FILE = "sequence_encoder.safetensors"


def is_learned(encoder: nn.Module) -> bool:
    """Whether the encoder has trainable parameters (and so something a saved model would otherwise lose)."""
    return any(p.requires_grad for p in encoder.parameters())


def save_sequence_encoder(encoder: nn.Module, folder: str | os.PathLike) -> bool:
    """Write a learned encoder's config and weights into ``folder`` (a saved model). Returns whether it wrote;
    an encoder without learned parameters writes nothing."""
    if not is_learned(encoder):
        return False
    config = getattr(encoder, "config", None)
    if not isinstance(config, SequenceEncoderConfig):
        raise ConfigError(
            f"sequence encoder {type(encoder).__name__} has no .config (SequenceEncoderConfig): it cannot be saved "
            "with the model, because loading rebuilds it from that config"
        )
    folder = Path(folder)
    state = {k: v.detach().to("cpu").contiguous() for k, v in encoder.state_dict().items()}
    with atomic_file(folder / WEIGHTS_FILE) as fh:
        fh.write(safetensors_bytes(state))
    write_json(folder / CONFIG_FILE, config.model_dump(mode="json"))
    return True


def load_sequence_encoder(folder: str | os.PathLike) -> nn.Module | None:
    """The trained sequence encoder saved in a model folder, in eval mode on the CPU; ``None`` when there is none."""
    folder = Path(folder)
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not config_path.is_file():
        return None
    if not weights_path.is_file():
        raise ConfigError(f"{config_path} names a sequence encoder but {weights_path.name} is missing")
    encoder = build_sequence_encoder(read_json(config_path, ConfigError))
    state = load_file(str(weights_path))
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"{weights_path} does not fit {config_path.name}: {exc}") from None
    return encoder.eval()


class SequenceVectors:
    """``embed_sequence`` from a trained encoder: histories (lists of item embeddings, oldest first) → unit rows.

    All-zero item rows (items that failed to embed) are masked out like padding; a history with no usable item
    gives a zero row, as the mean user vector does. Histories longer than the encoder's ``max_len`` are refused
    by the encoder with an error naming both lengths.
    """

    def __init__(self, encoder: nn.Module, dimension: int) -> None:
        config = getattr(encoder, "config", None)
        width = config.dim if isinstance(config, SequenceEncoderConfig) else None
        if width is not None and width != dimension:
            raise ConfigError(
                f"the model's sequence encoder works on {width}-d item embeddings, but they are {dimension}-d "
                "here (a Matryoshka truncation? evaluate sequences at the full width)"
            )
        self.encoder = encoder.eval()
        self.kind = config.kind if isinstance(config, SequenceEncoderConfig) else type(encoder).__name__

    def __call__(self, histories: list[list[np.ndarray]]) -> np.ndarray:
        width = next((len(h[0]) for h in histories if len(h)), 0)
        length = max((len(h) for h in histories), default=0)
        out = np.zeros((len(histories), width), dtype=np.float32)
        if not length:
            return out
        x = np.zeros((len(histories), length, width), dtype=np.float32)
        for b, h in enumerate(histories):
            if len(h):
                x[b, : len(h)] = np.stack(h)
        mask = np.any(x != 0, axis=2)
        usable = mask.any(1)
        if usable.any():
            param = next(self.encoder.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
            with torch.no_grad():
                vec = self.encoder(
                    torch.from_numpy(x[usable]).to(device), torch.from_numpy(mask[usable]).to(device)
                )
            out[usable] = vec.float().cpu().numpy()
        return out
