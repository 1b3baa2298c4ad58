"""ItemProcessor: one raw item (dict / Item / str) → a validated, decoded :class:`DecodedItem`.

This is the single entry point the model's input module, the training collator, the catalogue
embedder and the server call. It holds configuration only, no state, so one instance can be shared by
threads and pickled into data-loader workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import astuple
from pathlib import Path
from typing import TypeVar

import numpy as np

from omnivec.errors import ConfigError, EmptyItemError, ItemError, MediaLimitError
from omnivec.inputs.audio import AudioContext, load_audio, load_audio_track
from omnivec.inputs.image import ImageContext, load_image
from omnivec.inputs.item import DecodedItem, Item, MediaLimits, parse_item
from omnivec.inputs.media_cache import media_cache
from omnivec.inputs.sources import MediaSource, SourcePolicy, is_source_like, resolve_source
from omnivec.inputs.text import check_text_lengths, drop_fields, prepare_fields, render_fields
from omnivec.inputs.video import VideoContext, load_video

__all__ = ["ItemProcessor"]

T = TypeVar("T")


class ItemProcessor:
    """Validate and decode items for a model with a given image size, frame count and audio rate.

    Args:
        image_size: side of the square every image and video frame is resized to.
        num_frames: frames sampled uniformly from a video (fewer if the video is shorter).
        sampling_rate: rate of the returned audio, in Hz.
        limits: bounds on bytes, pixels, frames, seconds, characters and images per item.
        base_dir: directory relative paths resolve against (default: ``media_root``, else the
            working directory).
        allow_paths: ``False`` refuses local paths (server mode), unless ``media_root`` is set.
        media_root: when set, every path must resolve (``..`` and symlinks resolved) inside it.
        audio_from_video: use a video's audio track when the item has no ``audio`` of its own.
        field_drop_prob: training only: probability of dropping each text field (title, ocr, asr,
            nickname, tags; free ``text`` is never dropped), applied only when :meth:`decode` gets an
            ``rng``. A text-only item always keeps at least one field.

    Errors are :class:`~omnivec.errors.ItemError` subclasses naming the item index and field:
    ``UnknownFieldError``, ``EmptyItemError``, ``MediaDecodeError``, ``MediaLimitError``.
    """

    def __init__(
        self,
        *,
        image_size: int,
        num_frames: int,
        sampling_rate: int,
        limits: MediaLimits = MediaLimits(),
        base_dir: str | os.PathLike[str] | None = None,
        allow_paths: bool = True,
        media_root: str | os.PathLike[str] | None = None,
        audio_from_video: bool = True,
        field_drop_prob: float = 0.0,
    ) -> None:
        for name, value in (
            ("image_size", image_size),
            ("num_frames", num_frames),
            ("sampling_rate", sampling_rate),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"ItemProcessor {name} must be a positive int, got {value!r}")
        if not 0.0 <= float(field_drop_prob) <= 1.0:
            raise ConfigError(f"ItemProcessor field_drop_prob must lie in [0, 1], got {field_drop_prob!r}")
        if not isinstance(limits, MediaLimits):
            raise ConfigError(f"ItemProcessor limits must be a MediaLimits, got {type(limits).__name__}")
        root: Path | None = None
        if media_root is not None:
            root = Path(media_root).expanduser().resolve()
            if not root.is_dir():
                raise ConfigError(f"ItemProcessor media_root {str(media_root)!r} is not a directory")
        base = Path(base_dir).expanduser().resolve() if base_dir is not None else None
        self.image_size = image_size
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.limits = limits
        self.audio_from_video = bool(audio_from_video)
        self.field_drop_prob = float(field_drop_prob)
        self.policy = SourcePolicy(
            max_bytes=limits.max_bytes, base_dir=base, allow_paths=bool(allow_paths), media_root=root
        )

    def __repr__(self) -> str:
        return (
            f"ItemProcessor(image_size={self.image_size}, num_frames={self.num_frames}, "
            f"sampling_rate={self.sampling_rate}, allow_paths={self.policy.allow_paths}, "
            f"media_root={self.policy.media_root}, field_drop_prob={self.field_drop_prob})"
        )

    def decode(self, obj: object, index: int, rng: np.random.Generator | None = None) -> DecodedItem:
        """Validate and decode one item; ``index`` is its position, used in error messages.

        Field drop happens only when ``rng`` is given and ``field_drop_prob > 0``.
        """
        item = parse_item(obj, index)
        check_text_lengths(item, self.limits.max_text_chars, index)
        has_media = bool(
            item.image is not None or item.images or item.video is not None or item.audio is not None
        )
        fields = prepare_fields(item)
        if rng is not None and self.field_drop_prob > 0.0:
            fields = drop_fields(fields, self.field_drop_prob, rng, keep_one=not has_media)
        text = render_fields(fields)

        images = self._images(item, index)
        video_frames: list[np.ndarray] = []
        audio: np.ndarray | None = None
        if item.video is not None:
            video_value = item.video
            if is_source_like(video_value):
                video_value = resolve_source(video_value, self.policy, index=index, field="video")
            video_ctx = VideoContext(self.image_size, self.num_frames, self.limits, self.policy, index)
            video_frames = list(
                self._cached(
                    video_value, "video", self.num_frames, lambda: load_video(video_value, video_ctx)
                )
            )
            if self.audio_from_video and item.audio is None and isinstance(video_value, MediaSource):
                track_ctx = self._audio_ctx(index, "video")
                audio = self._cached(
                    video_value, "track", 0, lambda: load_audio_track(video_value, track_ctx)
                )
        if item.audio is not None:
            audio_value, audio_ctx = item.audio, self._audio_ctx(index, "audio")
            if isinstance(audio_value, (str, os.PathLike)):  # a file: resolved once, decoded once
                audio_value = resolve_source(audio_value, self.policy, index=index, field="audio")
            audio = self._cached(
                audio_value, "audio", 0, lambda: load_audio(audio_value, item.sampling_rate, audio_ctx)
            )

        modalities = {
            name
            for name, present in (
                ("text", text),
                ("image", images),
                ("video", video_frames),
                ("audio", audio is not None),
            )
            if present
        }
        if not modalities:
            raise EmptyItemError("item has no text, image, video or audio", index=index)
        return DecodedItem(
            text=text,
            frames=images + video_frames,
            audio=audio,
            modalities=frozenset(modalities),
            num_images=len(images),
            id=item.id,
        )

    def decode_many(
        self, objs: Iterable[object], start_index: int = 0, rng: np.random.Generator | None = None
    ) -> tuple[list[DecodedItem | None], list[ItemError]]:
        """Decode a batch, skipping bad items: ``None`` in their place and their errors returned."""
        decoded: list[DecodedItem | None] = []
        errors: list[ItemError] = []
        for offset, obj in enumerate(objs):
            try:
                decoded.append(self.decode(obj, start_index + offset, rng))
            except ItemError as exc:
                decoded.append(None)
                errors.append(exc)
        return decoded, errors

    def _images(self, item: Item, index: int) -> list[np.ndarray]:
        entries: list[tuple[object, str, str]] = []
        if item.image is not None:
            entries.append((item.image, "image", ""))
        entries.extend((value, "images", f"images[{i}]: ") for i, value in enumerate(item.images or ()))
        if len(entries) > self.limits.max_images:
            raise MediaLimitError(
                f"item has {len(entries)} images, more than max_images={self.limits.max_images}",
                index=index,
                field="images",
            )
        out = []
        for value, field, label in entries:
            ctx = ImageContext(self.image_size, self.limits, self.policy, index, field, label)
            if isinstance(value, (str, os.PathLike)):  # a file: resolved once, decoded once
                value = resolve_source(value, self.policy, index=index, field=field)
            out.append(self._cached(value, "image", 0, lambda v=value, c=ctx: load_image(v, c)))
        return out

    def _cached(self, value: object, kind: str, extra: int, decode: Callable[[], T]) -> T:
        """``decode()``, through the process's :data:`~omnivec.inputs.media_cache.media_cache` when ``value``
        is a file source; the key holds every setting that shapes the result."""
        if not isinstance(value, MediaSource):
            return decode()
        settings = (self.image_size, self.sampling_rate, extra, astuple(self.limits))
        return media_cache.get_or_decode(value, kind, settings, decode)

    def _audio_ctx(self, index: int, field: str) -> AudioContext:
        return AudioContext(self.sampling_rate, self.limits, self.policy, index, field)
