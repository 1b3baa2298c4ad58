"""OmniModel: a :class:`SentenceTransformer` made of omnivec modules, plus ``build`` and ``load``.

The module chain is ``OmniInput → VisionTower → AudioTower → Fusion → TanhMeanPooling → Normalize`` (towers
only when the architecture has them). Saved models are ordinary sentence-transformers folders
(``modules.json``, safetensors weights); ``SentenceTransformer(path, trust_remote_code=True)`` loads them too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize
from tqdm.auto import tqdm
from transformers import AutoTokenizer

from omnivec.errors import ConfigError, ItemError
from omnivec.inputs import DecodedItem, ItemProcessor
from omnivec.model.audio import AudioTower
from omnivec.model.config import ArchitectureConfig
from omnivec.model.fusion import Fusion
from omnivec.model.hf import resolve_pretrained
from omnivec.model.omni_input import OmniInput
from omnivec.model.pooling import TanhMeanPooling
from omnivec.model.registry import get_architecture
from omnivec.model.vision import VisionTower
from omnivec.utils.device import resolve_device

_TRUSTED_PREFIXES = ("omnivec.", "sentence_transformers.")


@dataclass
class EncodeResult:
    """Embeddings of the items that encoded, their positions in the input, and the skipped items' errors."""

    embeddings: np.ndarray
    indices: list[int]
    errors: list[ItemError] = field(default_factory=list)


class OmniModel(SentenceTransformer):
    """An omni-modal embedding model. ``encode`` accepts items (dicts, :class:`omnivec.Item`, strings)."""

    # -------------------------------------------------------------- parts
    @property
    def omni_input(self) -> OmniInput:
        first = self[0]
        if not isinstance(first, OmniInput):
            raise ConfigError(
                "this SentenceTransformer is not an omnivec model (first module is not OmniInput)"
            )
        return first

    def _module(self, cls: type) -> Any:
        return next((m for m in self if isinstance(m, cls)), None)

    @property
    def fusion(self) -> Fusion:
        return self._module(Fusion)

    @property
    def pooling(self) -> TanhMeanPooling:
        return self._module(TanhMeanPooling)

    @property
    def matryoshka_dims(self) -> list[int]:
        return list(self.pooling.matryoshka_dims)

    @property
    def dimension(self) -> int:
        return self.pooling.dimension

    def check_dimensions(self, dimensions: int | None) -> int | None:
        if dimensions is None or dimensions == self.dimension:
            return None
        if not 1 <= dimensions <= self.dimension:
            raise ConfigError(f"dimensions must be between 1 and {self.dimension}, got {dimensions}")
        return dimensions

    # ----------------------------------------------------------- encoding
    def encode(  # type: ignore[override]
        self,
        inputs: Any,
        *,
        task: str | None = None,
        side: str | None = None,
        dimensions: int | None = None,
        view: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        processor: ItemProcessor | None = None,
        convert_to_tensor: bool = False,
        **kwargs: Any,
    ) -> np.ndarray | torch.Tensor:
        """Embed items; a single item gives a 1-D vector. Bad items raise :class:`ItemError` naming them.

        Keyword arguments of :meth:`SentenceTransformer.encode` are accepted too (``truncate_dim`` is
        ``dimensions``; tensors, other precisions or output values go through sentence-transformers' own path).
        """
        dimensions = dimensions or kwargs.pop("truncate_dim", None)
        prompt = kwargs.pop("prompt", None) or self.prompts.get(kwargs.pop("prompt_name", None) or "", None)
        kwargs.pop("prompt_name", None)
        plain = (
            not convert_to_tensor
            and kwargs.pop("convert_to_numpy", True)
            and kwargs.pop("output_value", "sentence_embedding") == "sentence_embedding"
            and kwargs.pop("precision", "float32") == "float32"
        )
        kwargs.pop("normalize_embeddings", None)  # omnivec embeddings are always L2-normalised
        if not plain or kwargs:
            return super().encode(
                inputs, task=task, side=side, view=view, batch_size=batch_size, prompt=prompt,
                show_progress_bar=show_progress_bar, truncate_dim=self.check_dimensions(dimensions),
                convert_to_tensor=convert_to_tensor, normalize_embeddings=True, **kwargs,
            )  # fmt: skip
        single = isinstance(inputs, (str, dict)) or not isinstance(inputs, Sequence)
        items = [inputs] if single else list(inputs)
        result = self.encode_items(
            items, task=task, side=side, dimensions=dimensions, view=view, batch_size=batch_size,
            show_progress_bar=show_progress_bar, processor=processor, skip_errors=False, prompt=prompt,
        )  # fmt: skip
        return result.embeddings[0] if single else result.embeddings

    def encode_items(
        self,
        items: Sequence[Any],
        *,
        task: str | None = None,
        side: str | None = None,
        dimensions: int | None = None,
        view: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        processor: ItemProcessor | None = None,
        skip_errors: bool = True,
        chunk_size: int = 512,
        prompt: str | None = None,
    ) -> EncodeResult:
        """Decode and embed ``items`` chunk by chunk. With ``skip_errors`` bad items are skipped and
        returned as errors (index + field + cause); otherwise the first one raises."""
        dims = self.check_dimensions(dimensions)
        width = dims or self.dimension
        inp = self.omni_input
        processor = processor or inp.make_processor()
        out: list[np.ndarray] = []
        indices: list[int] = []
        errors: list[ItemError] = []
        show = show_progress_bar if show_progress_bar is not None else len(items) > 4 * batch_size
        bar = tqdm(total=len(items), desc="Encoding", unit="item", disable=not show)
        for start in range(0, len(items), chunk_size):
            decoded: list[DecodedItem] = []
            for i, obj in enumerate(items[start : start + chunk_size], start=start):
                try:
                    item = inp.decode(obj, i, view=view, processor=processor)
                    inp._check_towers(item, i)
                except ItemError as err:
                    if not skip_errors:
                        raise
                    errors.append(err)
                    continue
                decoded.append(item)
                indices.append(i)
            if decoded:
                # batch similar sizes together (less padding), then restore the input order
                order = np.argsort([-(len(d.text) + 1000 * len(d.frames)) for d in decoded], kind="stable")
                emb = super().encode(
                    [decoded[i] for i in order], task=task, side=side, batch_size=batch_size,
                    show_progress_bar=False, prompt=prompt, truncate_dim=dims, normalize_embeddings=True,
                    convert_to_numpy=True,
                )  # fmt: skip
                out.append(np.asarray(emb, dtype=np.float32)[np.argsort(order)])
            bar.update(min(chunk_size, len(items) - start))
        bar.close()
        embeddings = np.concatenate(out) if out else np.zeros((0, width), dtype=np.float32)
        return EncodeResult(embeddings, indices, errors)


# ---------------------------------------------------------------- build/load
def build(
    arch: str | os.PathLike | ArchitectureConfig = "small", *, seed: int = 0, device: str | None = "cpu"
) -> OmniModel:
    """Build a fresh model of architecture ``arch`` (a registered name, a JSON path or a config) on ``device``.

    The default is the CPU: a fresh model is for training, and the trainer moves it to its own device (a GPU
    when there is one). ``"auto"`` builds it on the best device here, as :func:`load` does by default."""
    cfg = get_architecture(arch)
    torch.manual_seed(seed)
    fusion = Fusion(cfg.fusion.model_dump(mode="json"))
    tok_ref = cfg.fusion.tokenizer or cfg.fusion.backbone.pretrained
    if tok_ref is None:
        raise ConfigError(
            f"architecture {cfg.name!r}: fusion.tokenizer is required for a random-init backbone"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(resolve_pretrained(tok_ref)), local_files_only=True)
    width = fusion.width
    modules: list[torch.nn.Module] = []
    vision = VisionTower(cfg.vision.model_dump(mode="json"), width) if cfg.vision else None
    audio = AudioTower(cfg.audio.model_dump(mode="json"), width) if cfg.audio else None
    max_pos = getattr(fusion.backbone.config, "max_position_embeddings", 512)
    omni_input = OmniInput(
        tokenizer=tokenizer,
        prompts=cfg.prompts.model_dump(mode="json"),
        vision_tokens=cfg.vision.perceiver.num_latents if cfg.vision else 0,
        image_size=cfg.vision.image_size if cfg.vision else 64,
        num_frames=cfg.vision.num_frames if cfg.vision else 1,
        image_mean=cfg.vision.image_mean if cfg.vision else (0.5, 0.5, 0.5),
        image_std=cfg.vision.image_std if cfg.vision else (0.5, 0.5, 0.5),
        sampling_rate=cfg.audio.sampling_rate if cfg.audio else 16000,
        window_seconds=cfg.audio.window_seconds if cfg.audio else 10.0,
        min_tail_seconds=cfg.audio.min_tail_seconds if cfg.audio else 1.0,
        max_chunks=cfg.audio.max_chunks if cfg.audio else 1,
        max_text_tokens=cfg.fusion.max_text_tokens,
        max_seq_length=int(max_pos),
        audio_tower=audio is not None,
    )
    modules.append(omni_input)
    if vision is not None:
        modules.append(vision)
    if audio is not None:
        modules.append(audio)
    modules += [fusion, TanhMeanPooling(width, cfg.pooling.matryoshka_dims), Normalize()]
    model = OmniModel(modules=modules, device=resolve_device(device))
    model.model_card_data.model_name = f"omnivec {cfg.name}"
    return model


def _check_module_types(path: Path) -> None:
    modules_json = path / "modules.json"
    if not modules_json.is_file():
        raise ConfigError(f"{path} is not a saved omnivec model (no modules.json)")
    for entry in json.loads(modules_json.read_text()):
        if not str(entry.get("type", "")).startswith(_TRUSTED_PREFIXES):
            raise ConfigError(
                f"{modules_json}: module type {entry.get('type')!r} is outside omnivec/sentence_transformers; "
                "refusing to import it (load it with SentenceTransformer(..., trust_remote_code=True) if you trust it)"
            )


def load(path: str | os.PathLike, *, device: str | None = "auto") -> OmniModel:
    """Load a saved omnivec model folder onto ``device`` (``auto``: a CUDA GPU when there is one, else the CPU).
    Only omnivec and sentence-transformers module classes are imported, and only safetensors weights are read."""
    p = Path(path)
    _check_module_types(p)
    return OmniModel(str(p), device=resolve_device(device), trust_remote_code=True, local_files_only=True)
