"""Embeddings of one frozen model, computed at most once per (rendered prompt, view, input).

The non-step phases of a run (adaptive balancing, dynamic hard-negative mining) embed the same catalogue
items many times over: with the default prompts every item-side instruction (i2i query and target, q2i
target) renders identically, so an item that is a copair query, a copair target, a search-i2i target and a
search-q2i target has one embedding, not four. :class:`EmbeddingMemo` keys rows by the rendered prompt (as the
evaluation cache does) plus the modality view and a caller-given input key, and embeds only the rows it has
not seen. Keep one memo only while the model's weights do not change (one balancing pass, one mining round).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["EmbeddingMemo"]


class EmbeddingMemo:
    """Lazily embeds inputs with ``model`` (an :class:`~omnivec.model.OmniModel` in eval mode).

    Args:
        model: the model; its weights must not change while the memo is in use.
        batch_size: items per forward pass.
        show_progress_bar: the model's own bar on each pass of new rows.
    """

    def __init__(self, model: Any, *, batch_size: int = 32, show_progress_bar: bool = False) -> None:
        self.model = model
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self._rows: dict[tuple[str, str, str], np.ndarray | None] = {}  # None: the input failed to encode
        self.computed = 0  # rows embedded (misses)
        self.requested = 0  # rows asked for (hits + misses)

    def prompt_key(self, task: str | None, side: str | None) -> str:
        """The rendered prompt of (task, side): pairs with the same wording share rows."""
        from omnivec.model.prompts import render_segments, resolve_task_side

        config = self.model.omni_input.prompt_config
        task, side = resolve_task_side(config, task, side)
        return repr(render_segments(config, task, side))

    def embed(
        self,
        keys: Sequence[str],
        inputs: Sequence[Any],
        *,
        task: str | None,
        side: str | None,
        view: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(embeddings [n, D], ok [n])`` for ``inputs`` (``keys[i]`` names ``inputs[i]``; equal keys must
        mean equal inputs). Rows of inputs that failed to encode are zero and ``ok`` is ``False`` there."""
        if len(keys) != len(inputs):
            raise ValueError(f"keys and inputs differ in length: {len(keys)} vs {len(inputs)}")
        prompt = self.prompt_key(task, side)
        view_key = view or ""
        todo: dict[str, Any] = {}
        for key, obj in zip(keys, inputs, strict=True):
            if (prompt, view_key, key) not in self._rows and key not in todo:
                todo[key] = obj
        if todo:
            res = self.model.encode_items(
                list(todo.values()), task=task, side=side, view=view, batch_size=self.batch_size,
                show_progress_bar=self.show_progress_bar, skip_errors=True,
            )  # fmt: skip
            new = list(todo)
            for key in new:
                self._rows[(prompt, view_key, key)] = None
            for row, pos in enumerate(res.indices):
                self._rows[(prompt, view_key, new[pos])] = res.embeddings[row]
            self.computed += len(new)
        self.requested += len(keys)
        out = np.zeros((len(keys), self.model.dimension), dtype=np.float32)
        ok = np.zeros(len(keys), dtype=bool)
        for i, key in enumerate(keys):
            vec = self._rows[(prompt, view_key, key)]
            if vec is not None:
                out[i], ok[i] = vec, True
        return out, ok
