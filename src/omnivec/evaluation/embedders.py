"""What the evaluation runner needs from a model: the :class:`Embedder` protocol, and :class:`OmniEmbedder`.

An embedder turns a list of items into one L2-normalised row per item, in order. Items are omnivec item
dicts: text fields (``title``, ``ocr``, ``asr``, ``nickname``, ``tags``, ``text``), media paths (``image``,
``video``, ``audio``, absolute) and, for catalogue items, their ``id``; a text query is ``{"text": ...}``.
``task`` and ``side`` name the prompt (``i2i`` | ``q2i`` | ``cls`` | ``seq``; ``query`` | ``target``); an
embedder without prompts may ignore them.

An item that cannot be embedded becomes an all-zero row: it is never dropped (positions stay aligned) and the
runner counts and reports zero rows. An embedder may also keep an ``errors`` list of messages; the runner
copies it into the report.

Baselines (a CLIP dual tower, a text-only MiniLM) implement the same protocol:

    class MiniLMEmbedder:
        name = "minilm-text"
        def embed(self, items, *, task, side):
            return normalise(minilm.encode([text_of(it) for it in items]))

Two (task, side) pairs that an embedder renders identically give identical rows; an embedder may say so with
an optional ``prompt_key(task, side) -> str`` (equal keys = equal embeddings) and the evaluation cache then
embeds the corpus once for all of them (:func:`prompt_key`). Without it every (task, side) is its own pass.

Sequence tasks (seq2item) need a user representation built from the embeddings of the user's history:
:data:`USER_VECTORS` holds ``mean`` (:func:`mean_sequence`, the paper's) and ``centred`` (:func:`centred_sequence`,
the mean minus the corpus centroid); an embedder may define ``embed_sequence(histories)`` to replace both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from omnivec.errors import ConfigError

__all__ = [
    "USER_VECTORS",
    "Embedder",
    "OmniEmbedder",
    "SequenceEmbedder",
    "centred_sequence",
    "corpus_centre",
    "l2_normalise",
    "mean_sequence",
    "prompt_key",
    "sequence_fn",
    "user_vector_fn",
]


@runtime_checkable
class Embedder(Protocol):
    """Anything that embeds items: a ``name`` and ``embed(items, task=, side=) -> [len(items), D]``."""

    name: str

    def embed(self, items: list[dict[str, Any]], *, task: str, side: str) -> np.ndarray:
        """One L2-normalised float32 row per item, in order; a failed item is an all-zero row."""
        ...


@runtime_checkable
class SequenceEmbedder(Protocol):
    """Optional hook: an embedder with its own history → user vector (seq2item)."""

    def embed_sequence(self, histories: list[list[np.ndarray]]) -> np.ndarray:
        """One L2-normalised row per history; each history is the list of its items' embeddings, oldest first."""
        ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero (no division by zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _history_means(histories: list[list[np.ndarray]]) -> np.ndarray:
    """The raw (un-normalised) mean of each history; an empty history gives a zero row."""
    width = next((len(h[0]) for h in histories if len(h)), 0)
    rows = [np.mean(np.stack(h), axis=0) if len(h) else np.zeros(width, dtype=np.float32) for h in histories]
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, width), dtype=np.float32)


def mean_sequence(histories: list[list[np.ndarray]]) -> np.ndarray:
    """Default sequence representation: ``u = normalise(mean_i e_i)`` over the history's item embeddings.

    An empty history (or one whose items all failed) gives a zero row.
    """
    return l2_normalise(_history_means(histories))


def corpus_centre(corpus: np.ndarray) -> np.ndarray:
    """Mean of the corpus's non-zero rows (failed items are all-zero rows and do not count)."""
    corpus = np.asarray(corpus, dtype=np.float32)
    ok = np.any(corpus != 0, axis=1)
    return corpus[ok].mean(0) if ok.any() else np.zeros(corpus.shape[1], dtype=np.float32)


def centred_sequence(histories: list[list[np.ndarray]], centre: np.ndarray) -> np.ndarray:
    """``u = normalise(mean_i e_i − c)``: the history mean minus the catalogue centroid ``c``.

    Trained embedding spaces are anisotropic (on the built-in worlds every item has cosine ≈ 0.9 with the
    centroid), so a plain history mean points at the centroid for every user and ranks candidates by how central
    they are. Taking the centroid out leaves the part of the mean that differs between users. Items are not
    touched: the same item index serves both user vectors. Empty histories stay zero rows.
    """
    means = _history_means(histories)
    empty = ~np.any(means != 0, axis=1)
    out = l2_normalise(means - np.asarray(centre, dtype=np.float32)[None, :])
    out[empty] = 0.0
    return out


#: history embeddings + the corpus they are ranked against → one user vector per history
USER_VECTORS: dict[str, Callable[[list[list[np.ndarray]], np.ndarray], np.ndarray]] = {
    "mean": lambda histories, corpus: mean_sequence(histories),
    "centred": lambda histories, corpus: centred_sequence(histories, corpus_centre(corpus)),
}


def sequence_fn(embedder: object) -> Any:
    """The embedder's ``embed_sequence`` when it has one, else :func:`mean_sequence`."""
    fn = getattr(embedder, "embed_sequence", None)
    return fn if callable(fn) else mean_sequence


def user_vector_fn(
    embedder: object, kind: str = "mean"
) -> Callable[[list[list[np.ndarray]], np.ndarray], np.ndarray]:
    """``(histories, corpus) -> user vectors``: the embedder's ``embed_sequence`` when it has one, else
    :data:`USER_VECTORS` ``[kind]``."""
    if kind not in USER_VECTORS:
        raise ConfigError(f"user_vector {kind!r} is unknown; expected one of {sorted(USER_VECTORS)}")
    fn = getattr(embedder, "embed_sequence", None)
    if callable(fn):
        return lambda histories, corpus: fn(histories)
    return USER_VECTORS[kind]


def prompt_key(embedder: object, task: str, side: str) -> str:
    """The embedder's own ``prompt_key(task, side)`` when it has one, else ``"task/side"``."""
    fn = getattr(embedder, "prompt_key", None)
    return str(fn(task, side)) if callable(fn) else f"{task}/{side}"


class OmniEmbedder:
    """An :class:`~omnivec.model.OmniModel` as an :class:`Embedder`.

    Args:
        model: a built or loaded omnivec model.
        batch_size: items per forward pass.
        dimensions: Matryoshka truncation (re-normalised); ``None`` = full width.
        name: shown in results and reports (default: the model's card name, else ``"omnivec"``).
        show_progress_bar: the model's own per-call progress bar (the runner shows its own).
        sequence_encoder: a trained CRE sequence encoder (:func:`omnivec.recsys.sequence_io.load_sequence_encoder`
            of the model folder); when given, it is this embedder's ``embed_sequence``, the seq2item user vector.

    Bad items (unreadable media, no usable field) are skipped by the model and come back as zero rows; their
    messages accumulate in :attr:`errors`.
    """

    def __init__(
        self,
        model: Any,
        *,
        batch_size: int = 32,
        dimensions: int | None = None,
        name: str | None = None,
        show_progress_bar: bool = False,
        sequence_encoder: Any = None,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.dimensions = model.check_dimensions(dimensions) if dimensions is not None else None
        card = getattr(getattr(model, "model_card_data", None), "model_name", None)
        self.name = name or card or "omnivec"
        self.show_progress_bar = show_progress_bar
        self.errors: list[str] = []
        # the model's trained history encoder, when given, replaces the user_vector choice
        if sequence_encoder is not None:
            from omnivec.recsys.sequence_io import SequenceVectors

            self.embed_sequence = SequenceVectors(sequence_encoder, self.width)

    @property
    def width(self) -> int:
        """Embedding width after truncation."""
        return int(self.dimensions or self.model.dimension)

    def prompt_key(self, task: str, side: str) -> str:
        """The rendered prompt of (task, side): pairs with the same wording share embeddings."""
        from omnivec.model.prompts import render_segments, resolve_task_side

        config = self.model.omni_input.prompt_config
        task, side = resolve_task_side(config, task, side)
        return repr(render_segments(config, task, side))

    def embed(self, items: list[dict[str, Any]], *, task: str, side: str) -> np.ndarray:
        out = np.zeros((len(items), self.width), dtype=np.float32)
        if not items:
            return out
        res = self.model.encode_items(
            items,
            task=task,
            side=side,
            dimensions=self.dimensions,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            skip_errors=True,
        )
        if res.indices:
            out[np.asarray(res.indices)] = res.embeddings
        for err in res.errors:
            item = items[err.index] if err.index is not None and err.index < len(items) else {}
            who = f"item {item['id']!r}" if isinstance(item, dict) and "id" in item else f"item {err.index}"
            self.errors.append(
                f"{task}/{side} {who}: {err.reason}" + (f" ({err.field})" if err.field else "")
            )
        return out
