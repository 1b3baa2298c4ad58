"""The model side of the server: decode wire items into batcher work, count tokens, run a batch, truncate.

:meth:`Embedder.prepare` runs in a request's thread (not the model's): it validates and decodes every item
with an :class:`~omnivec.inputs.ItemProcessor` in server mode (no local paths unless inside the media root,
no URLs, the server's :class:`~omnivec.inputs.MediaLimits`), counts the item's text tokens with the model's
tokenizer (for ``usage``), and estimates its sequence length (for the token budget). :meth:`Embedder.encode`
is what the batcher's worker thread calls.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from omnivec.errors import ConfigError, ItemError
from omnivec.inputs import DecodedItem, ItemProcessor
from omnivec.model.prompts import render_segments, resolve_task_side
from omnivec.serve.batching import WorkItem
from omnivec.serve.errors import APIError
from omnivec.serve.schemas import check_wire_item
from omnivec.serve.settings import ServeSettings

__all__ = ["Embedder", "Prepared"]


class Prepared:
    """Decoded items of one request, ready to queue, and their text token count."""

    def __init__(self, items: list[WorkItem], prompt_tokens: int) -> None:
        self.items = items
        self.prompt_tokens = prompt_tokens


class Embedder:
    """Wraps an :class:`~omnivec.model.OmniModel` for serving (see the module docstring)."""

    def __init__(self, model: Any, settings: ServeSettings) -> None:
        self.model = model
        inp = model.omni_input
        self._inp = inp
        self.dimension = int(model.dimension)
        self.matryoshka_dims = [int(d) for d in model.matryoshka_dims]
        self.processor = ItemProcessor(
            image_size=inp.image_size,
            num_frames=inp.num_frames,
            sampling_rate=inp.sampling_rate,
            limits=settings.media_limits,
            allow_paths=False,
            media_root=settings.media_root,
        )
        # A private tokenizer copy: the worker thread's tokenizer changes its truncation state per call,
        # and a Rust tokenizer must not be mutated while another thread uses it.
        self._tokenizer = copy.deepcopy(inp.tokenizer)
        self._tok_lock = threading.Lock()
        self._special = len(self._tokenizer("", add_special_tokens=True)["input_ids"])
        self._overhead: dict[tuple[str, str], int] = {}

    # -------------------------------------------------------------- prompts
    @property
    def tasks(self) -> list[str]:
        return list(self._inp.prompt_config.tasks)

    @property
    def modalities(self) -> list[str]:
        """The modalities this model embeds."""
        vision = ["image", "video"] if self._inp.vision_tokens else []
        return ["text", *vision, *(["audio"] if self._inp.audio_tower else [])]

    @property
    def default_task(self) -> str:
        return str(self._inp.prompt_config.default_task)

    def resolve(self, task: str | None, side: str | None) -> tuple[str, str]:
        """Normalised ``(task, side)``; a 400 naming the parameter when unknown."""
        try:
            return resolve_task_side(self._inp.prompt_config, task, side)
        except ConfigError as exc:
            param = "side" if str(exc).startswith("side") else "task"
            raise APIError(400, str(exc), param=param, code="invalid_value") from exc

    def check_dimensions(self, dimensions: int | None) -> int | None:
        """``dimensions`` (``None`` = full width); a 400 when outside ``1..dimension``."""
        if dimensions is None or dimensions == self.dimension:
            return None
        if not 1 <= dimensions <= self.dimension:
            raise APIError(
                400,
                f"dimensions must be between 1 and {self.dimension} (Matryoshka dims of this model: "
                f"{self.matryoshka_dims}), got {dimensions}",
                param="dimensions",
                code="invalid_value",
            )
        return dimensions

    def _prompt_tokens(self, key: tuple[str, str]) -> int:
        """Tokens of the prompt around an item: special tokens + instruction/template literals."""
        if key not in self._overhead:
            segments = render_segments(self._inp.prompt_config, *key)
            with self._tok_lock:
                literal = sum(
                    len(self._tokenizer(s.text, add_special_tokens=False)["input_ids"])
                    for s in segments
                    if s.kind == "literal"
                )
            self._overhead[key] = self._special + literal
        return self._overhead[key]

    # --------------------------------------------------------------- decode
    def prepare(self, raw: Sequence[object], key: tuple[str, str]) -> Prepared:
        """Decode every item; all the bad ones raise together as an :class:`ItemErrors`."""
        items: list[WorkItem] = []
        errors: list[ItemError] = []
        total = 0
        overhead = self._prompt_tokens(key)
        for index, obj in enumerate(raw):
            try:
                decoded = self._decode(obj, index)
            except ItemError as err:
                errors.append(err)
                continue
            n_text = self.count_tokens(decoded.text)
            total += n_text
            seq = overhead + min(n_text, self._inp.max_text_tokens)
            seq += (decoded.audio is not None) + (self._inp.vision_tokens if decoded.frames else 0)
            if seq > self._inp.max_seq_length:  # caught here, it cannot fail the batch it would join
                errors.append(
                    ItemError(
                        f"prompt + media slots + text make {seq} tokens, over the model's max_seq_length "
                        f"{self._inp.max_seq_length}",
                        index=index,
                    )
                )
                continue
            pixels = sum(int(f.shape[0]) * int(f.shape[1]) for f in decoded.frames)
            items.append(WorkItem(decoded, tokens=seq, pixels=pixels))
        if errors:
            raise ItemErrors(errors)
        return Prepared(items, total)

    def _decode(self, obj: object, index: int) -> DecodedItem:
        decoded = self.processor.decode(check_wire_item(obj, index), index)
        if decoded.frames and not self._inp.vision_tokens:
            raise ItemError("this model has no vision tower", index=index, field="image/video")
        if decoded.audio is not None and not self._inp.audio_tower:
            raise ItemError("this model has no audio tower", index=index, field="audio")
        return decoded

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` (the item's formatted text) with the model's tokenizer, no special tokens."""
        if not text:
            return 0
        with self._tok_lock:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    # --------------------------------------------------------------- encode
    def encode(self, payloads: Sequence[DecodedItem], key: tuple[str, str]) -> np.ndarray:
        """Embed one batch at full width (worker thread only)."""
        task, side = key
        result = self.model.encode_items(
            list(payloads), task=task, side=side, batch_size=len(payloads), show_progress_bar=False,
            skip_errors=False,
        )  # fmt: skip
        return result.embeddings

    @staticmethod
    def truncate(embeddings: np.ndarray, dimensions: int | None) -> np.ndarray:
        """Matryoshka: keep the first ``dimensions`` values and re-normalise (identity for ``None``)."""
        if dimensions is None:
            return embeddings
        out = np.ascontiguousarray(embeddings[:, :dimensions], dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


class ItemErrors(Exception):
    """Every bad item of one request (each an :class:`ItemError` naming its index and field)."""

    def __init__(self, errors: list[ItemError]) -> None:
        super().__init__(str(errors[0]))
        self.errors = errors
