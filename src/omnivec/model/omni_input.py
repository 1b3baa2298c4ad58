"""OmniInput: the sentence-transformers input module that turns omni items into model features.

``preprocess(items, task=, side=, view=)`` decodes each item (:class:`omnivec.inputs.ItemProcessor`), renders
the prompt template of (task, side) around the item's modality slots, tokenises, and packs media:

* ``input_ids``, ``attention_mask``, ``slot_type`` ``[B, L]`` (right-padded; slots hold a placeholder id),
* ``pixel_values`` ``[F, 3, H, W]``, ``frame_owner`` ``[F]``, ``frame_index`` ``[F]`` for the vision tower,
* ``audio_values`` ``[C, S]``, ``audio_owner`` ``[C]`` for the audio tower (window chunks, see ``audio.py``),
* ``has_text``/``has_vision``/``has_audio`` ``[B]`` booleans.

The sequence of an item is ``head + literal + [audio slot] + [N vision slots] + text ids + literal + tail``
where head/tail are the tokenizer's own special tokens (``[CLS]``/``[SEP]`` for BERT, none for Qwen).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sentence_transformers.base.modules import InputModule
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from omnivec.errors import ConfigError, ItemError
from omnivec.inputs import DecodedItem, ItemProcessor, MediaLimits, parse_item
from omnivec.model.audio import chunk_waveform
from omnivec.model.fusion import SLOT_AUDIO, SLOT_TOKEN, SLOT_VISION
from omnivec.model.prompts import PromptConfig, Segment, render_segments, resolve_task_side
from omnivec.model.views import restrict

_MODS = ("text", "image", "audio", "video")


@dataclass(frozen=True)
class Indexed:
    """An input tagged with its position in the caller's list, so errors name the right item."""

    index: int
    item: Any


class OmniInput(InputModule):
    config_keys = [  # noqa: RUF012
        "prompts",
        "vision_tokens",
        "image_size",
        "num_frames",
        "image_mean",
        "image_std",
        "sampling_rate",
        "window_seconds",
        "min_tail_seconds",
        "max_chunks",
        "max_text_tokens",
        "max_seq_length",
        "audio_tower",
        "limits",
    ]
    config_file_name = "omnivec_input.json"
    forward_kwargs = {"side", "view", "processor"}  # noqa: RUF012

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        prompts: dict[str, Any] | None = None,
        vision_tokens: int = 0,
        image_size: int = 64,
        num_frames: int = 4,
        image_mean: Sequence[float] = (0.5, 0.5, 0.5),
        image_std: Sequence[float] = (0.5, 0.5, 0.5),
        sampling_rate: int = 16000,
        window_seconds: float = 10.0,
        min_tail_seconds: float = 1.0,
        max_chunks: int = 6,
        max_text_tokens: int = 256,
        max_seq_length: int = 512,
        audio_tower: bool = False,
        limits: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.prompt_config = PromptConfig.model_validate(prompts or {})
        self.prompts = self.prompt_config.model_dump(mode="json")
        self.vision_tokens = vision_tokens
        self.image_size, self.num_frames = image_size, num_frames
        self.image_mean, self.image_std = list(image_mean), list(image_std)
        self.sampling_rate, self.window_seconds = sampling_rate, window_seconds
        self.min_tail_seconds, self.max_chunks = min_tail_seconds, max_chunks
        self.max_text_tokens, self.max_seq_length = max_text_tokens, max_seq_length
        self.audio_tower = audio_tower
        self.media_limits = MediaLimits(**(limits or {}))
        self.limits = dict(limits or {})
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._head, self._tail = self._special_wrap()
        self._literal_cache: dict[str, list[int]] = {}
        self._default_processor = self.make_processor()
        self._mean = torch.tensor(self.image_mean).view(1, 3, 1, 1)
        self._std = torch.tensor(self.image_std).view(1, 3, 1, 1)

    def set_instruction(self, instruction: str) -> None:
        """Use one instruction for every task and side (saved with the model)."""
        cfg = self.prompt_config.model_copy(deep=True)
        cfg.instructions = dict.fromkeys(cfg.instructions, instruction)
        self.prompt_config = PromptConfig.model_validate(cfg.model_dump())
        self.prompts = self.prompt_config.model_dump(mode="json")
        self._literal_cache.clear()

    # ---------------------------------------------------------------- set-up
    @property
    def modalities(self) -> list[Any]:
        combos: list[Any] = list(_MODS)
        for r in range(2, len(_MODS) + 1):
            combos += list(itertools.permutations(_MODS, r))
        return [*combos, "message"]  # sentence-transformers calls a batch of mixed items "message"

    def _special_wrap(self) -> tuple[list[int], list[int]]:
        """The tokenizer's own special tokens around a sequence, e.g. ([CLS], [SEP]) for BERT."""
        probe = self.tokenizer("omnivec", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("omnivec", add_special_tokens=True)["input_ids"]
        for start in range(len(full) - len(probe) + 1):
            if full[start : start + len(probe)] == probe:
                return list(full[:start]), list(full[start + len(probe) :])
        return [], []

    def make_processor(
        self,
        *,
        base_dir: str | os.PathLike | None = None,
        allow_paths: bool = True,
        media_root: str | os.PathLike | None = None,
        field_drop_prob: float = 0.0,
        audio_from_video: bool = True,
    ) -> ItemProcessor:
        """An :class:`ItemProcessor` with this model's media settings (frames, resolution, sampling rate)."""
        return ItemProcessor(
            image_size=self.image_size,
            num_frames=self.num_frames,
            sampling_rate=self.sampling_rate,
            limits=self.media_limits,
            base_dir=base_dir,
            allow_paths=allow_paths,
            media_root=media_root,
            audio_from_video=audio_from_video,
            field_drop_prob=field_drop_prob,
        )

    def _literal_ids(self, text: str) -> list[int]:
        ids = self._literal_cache.get(text)
        if ids is None:
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            self._literal_cache[text] = ids
        return ids

    # ------------------------------------------------------------ decoding
    def decode(
        self,
        obj: Any,
        index: int,
        view: str | None = None,
        processor: ItemProcessor | None = None,
        rng: np.random.Generator | None = None,
    ) -> DecodedItem:
        """Validate, restrict to ``view`` and decode one raw item (errors name ``index``)."""
        if isinstance(obj, DecodedItem):
            return obj
        processor = processor or self._default_processor
        item = restrict(parse_item(obj, index), view)
        return processor.decode(item, index, rng=rng)

    def _check_towers(self, item: DecodedItem, index: int) -> None:
        if item.frames and not self.vision_tokens:
            raise ItemError("this model has no vision tower", index=index, field="image/video")
        if item.audio is not None and not self.audio_tower:
            raise ItemError("this model has no audio tower", index=index, field="audio")

    # ---------------------------------------------------------- preprocess
    def preprocess(
        self,
        inputs: Sequence[Any],
        prompt: str | None = None,
        task: str | None = None,
        side: str | None = None,
        view: str | None = None,
        processor: ItemProcessor | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Decode + pack a batch. ``prompt`` (sentence-transformers' free-form prompt) replaces the
        instruction of (task, side); the template around it stays."""
        task, side = resolve_task_side(self.prompt_config, task, side)
        decoded: list[DecodedItem] = []
        for pos, raw in enumerate(inputs):
            index, obj = (raw.index, raw.item) if isinstance(raw, Indexed) else (pos, raw)
            item = self.decode(obj, index, view=view, processor=processor)
            self._check_towers(item, index)
            decoded.append(item)
        return self.pack(decoded, render_segments(self.prompt_config, task, side, instruction=prompt))

    def pack(
        self, items: Sequence[DecodedItem], segments: Sequence[Segment] | Sequence[Sequence[Segment]]
    ) -> dict[str, Any]:
        """Tokenise and batch already-decoded items around the given prompt segments (one list for every
        item, or one list per item when items of a batch use different prompts)."""
        per_item = bool(segments) and not isinstance(segments[0], Segment)
        item_segments = list(segments) if per_item else [segments] * len(items)
        texts = [it.text for it in items]
        text_ids = self.tokenizer(
            texts, add_special_tokens=False, truncation=True, max_length=self.max_text_tokens
        )["input_ids"]
        rows: list[list[int]] = []
        slots: list[list[int]] = []
        frames: list[np.ndarray] = []
        frame_owner: list[int] = []
        frame_index: list[int] = []
        chunks: list[np.ndarray] = []
        chunk_owner: list[int] = []
        window = round(self.window_seconds * self.sampling_rate)
        min_tail = round(self.min_tail_seconds * self.sampling_rate)
        for b, (item, tids, segs) in enumerate(zip(items, text_ids, item_segments, strict=True)):
            ids, st = list(self._head), [SLOT_TOKEN] * len(self._head)
            for seg in segs:
                if seg.kind == "literal":
                    lit = self._literal_ids(seg.text)
                    ids += lit
                    st += [SLOT_TOKEN] * len(lit)
                elif seg.kind == "audio" and item.audio is not None:
                    ids.append(self.pad_id)
                    st.append(SLOT_AUDIO)
                    wave_chunks = chunk_waveform(item.audio, window, min_tail, self.max_chunks)
                    chunks.extend(wave_chunks)
                    chunk_owner += [b] * len(wave_chunks)
                elif seg.kind == "vision" and item.frames:
                    ids += [self.pad_id] * self.vision_tokens
                    st += [SLOT_VISION] * self.vision_tokens
                    frames.extend(item.frames)
                    frame_owner += [b] * len(item.frames)
                    frame_index += list(range(len(item.frames)))
                elif seg.kind == "text" and tids:
                    ids += list(tids)
                    st += [SLOT_TOKEN] * len(tids)
            ids += self._tail
            st += [SLOT_TOKEN] * len(self._tail)
            if len(ids) > self.max_seq_length:
                raise ConfigError(
                    f"prompt + slots + text is {len(ids)} tokens, over max_seq_length {self.max_seq_length}: "
                    "lower max_text_tokens or shorten the instructions"
                )
            rows.append(ids)
            slots.append(st)
        length = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        slot_type = torch.zeros((len(rows), length), dtype=torch.long)
        attention = torch.zeros((len(rows), length), dtype=torch.long)
        for b, (ids, st) in enumerate(zip(rows, slots, strict=True)):
            input_ids[b, : len(ids)] = torch.tensor(ids)
            slot_type[b, : len(st)] = torch.tensor(st)
            attention[b, : len(ids)] = 1
        features: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": attention,
            "slot_type": slot_type,
            "has_text": torch.tensor([bool(t) for t in text_ids]),
            "has_vision": torch.tensor([bool(it.frames) for it in items]),
            "has_audio": torch.tensor([it.audio is not None for it in items]),
        }
        if frames:
            pix = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)
            features["pixel_values"] = (pix - self._mean) / self._std
            features["frame_owner"] = torch.tensor(frame_owner)
            features["frame_index"] = torch.tensor(frame_index)
        if chunks:
            features["audio_values"] = torch.from_numpy(np.stack(chunks))
            features["audio_owner"] = torch.tensor(chunk_owner)
        return features

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return features

    # --------------------------------------------------------------- saving
    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        os.makedirs(output_path, exist_ok=True)
        self.save_config(output_path)
        self.save_tokenizer(output_path)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs: Any) -> OmniInput:
        hub = {k: kwargs[k] for k in ("token", "cache_folder", "revision", "local_files_only") if k in kwargs}
        config = cls.load_config(model_name_or_path, subfolder=subfolder, **hub)
        if not config:
            raise ConfigError(f"{model_name_or_path}: missing {cls.config_file_name}")
        path = Path(model_name_or_path) / subfolder
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        return cls(tokenizer=tokenizer, **config)


def batch_size_of(features: dict[str, Any]) -> int:
    return int(features["input_ids"].shape[0])


def slice_features(features: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    """Items ``[start, end)`` of a packed batch, media included (frames and audio chunks are re-based).

    GradCache-style losses use this to run the model on mini-batches of one big batch; the mini-batch
    results are identical to the corresponding rows of the full batch (items never attend to each other)."""
    out: dict[str, Any] = {}
    for key in ("input_ids", "attention_mask", "slot_type", "has_text", "has_vision", "has_audio"):
        if key in features:
            out[key] = features[key][start:end]
    # trim right padding so a mini-batch of short items does not carry the long items' padding
    if "attention_mask" in out and out["attention_mask"].numel():
        length = int(out["attention_mask"].sum(dim=1).max())
        for key in ("input_ids", "attention_mask", "slot_type"):
            out[key] = out[key][:, :length]
    for media, owner in (("pixel_values", "frame_owner"), ("audio_values", "audio_owner")):
        if media not in features:
            continue
        keep = (features[owner] >= start) & (features[owner] < end)
        if keep.any():
            out[media] = features[media][keep]
            out[owner] = features[owner][keep] - start
            if media == "pixel_values":
                out["frame_index"] = features["frame_index"][keep]
    return out
