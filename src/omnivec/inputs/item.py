"""The item schema: what one thing to embed may carry, its validation, and the decoded result.

An item is an :class:`Item`, a plain dict with the same keys, or a bare ``str`` (a text-only item).
:func:`parse_item` checks keys and value types only; decoding media and cleaning text happen in
:class:`omnivec.inputs.ItemProcessor`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
from PIL import Image

from omnivec.errors import ConfigError, ItemError, UnknownFieldError

__all__ = [
    "ITEM_KEYS",
    "TEXT_FIELDS",
    "DecodedItem",
    "Item",
    "Media",
    "MediaLimits",
    "parse_item",
]

#: The structured text fields, in the order they appear in the formatted text (SAIL §3.2.2).
TEXT_FIELDS: tuple[str, ...] = ("title", "ocr", "asr", "nickname", "tags")

#: Keys of an audio dict (Hugging Face ``datasets`` style).
AUDIO_DICT_KEYS = frozenset({"array", "sampling_rate", "path", "bytes"})

Media = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray | list | tuple | dict
"""A media value: path, bytes, data URI, PIL image, numpy array, list of frames, or audio dict."""


@dataclass
class Item:
    """One thing to embed: any subset of text fields, images, a video and an audio clip.

    ``text`` is free text (a query, a caption) placed first and unlabeled; the other text fields are
    labeled ``title: ...`` etc. ``tags`` may be a string or a list of strings. ``image`` and ``images``
    combine (``image`` first). ``sampling_rate`` applies to a bare numpy ``audio`` array. ``id`` passes
    through untouched and is never encoded.
    """

    text: str | None = None
    title: str | None = None
    ocr: str | None = None
    asr: str | None = None
    nickname: str | None = None
    tags: str | list[str] | None = None
    image: Media | None = None
    images: list[Media] | None = None
    video: Media | None = None
    audio: Media | None = None
    sampling_rate: int | None = None
    id: str | int | None = None


ITEM_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Item))


@dataclass(frozen=True)
class MediaLimits:
    """Upper bounds on what one item may carry; exceeding one raises :class:`MediaLimitError`.

    ``max_bytes`` bounds every encoded payload (bytes, data URI, file size); ``max_pixels`` every image
    or video frame before resizing (checked from the header, before the pixels are decoded);
    ``max_frames`` the frames of a source video; ``max_audio_seconds`` an explicit audio clip (the audio
    track of a video is truncated to it instead); ``max_text_chars`` each raw text field (checked before
    cleaning; longer text is an error, never silently truncated); ``max_images`` the images of an item.
    """

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_frames: int = 10_000
    max_audio_seconds: float = 600.0
    max_text_chars: int = 20_000
    max_images: int = 16

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"MediaLimits.{f.name} must be a positive number, got {value!r}")


@dataclass
class DecodedItem:
    """An item after validation and decoding, ready for the model's input module.

    ``frames`` holds the images first (``frames[:num_images]``), then the sampled video frames, each a
    ``uint8`` array of shape ``(image_size, image_size, 3)``. ``audio`` is float32 mono at the
    processor's sampling rate with values in ``[-1, 1]``.
    """

    text: str
    frames: list[np.ndarray]
    audio: np.ndarray | None
    modalities: frozenset[str]
    num_images: int = 0
    id: str | int | None = None


def parse_item(obj: object, index: int | None) -> Item:
    """Validate ``obj`` (an :class:`Item`, a dict or a str) and return it as an :class:`Item`.

    ``index`` (the item's position; ``None`` when there is none) addresses error messages.
    Raises :class:`UnknownFieldError` naming an unknown key and :class:`ItemError` naming the field
    whose value has the wrong type. Emptiness is not checked here (that needs decoding).
    """
    if isinstance(obj, Item):
        item = obj
    elif isinstance(obj, str):
        item = Item(text=obj)
    elif isinstance(obj, Mapping):
        for key in obj:
            if key not in ITEM_KEYS:
                raise UnknownFieldError(
                    f"unknown key {key!r}; expected some of {', '.join(ITEM_KEYS)}",
                    index=index,
                    field=str(key),
                )
        item = Item(**{k: obj[k] for k in obj})
    else:
        raise ItemError(f"expected a dict, an omnivec Item or a str, got {type(obj).__name__}", index=index)
    _validate(item, index)
    return item


def _type_error(field_name: str, expected: str, value: object, index: int | None) -> ItemError:
    return ItemError(f"expected {expected}, got {type(value).__name__}", index=index, field=field_name)


def _is_image_value(value: object) -> bool:
    return isinstance(value, (str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray))


def _validate(item: Item, index: int | None) -> None:
    for name in ("text", *TEXT_FIELDS[:-1]):
        value = getattr(item, name)
        if value is not None and not isinstance(value, str):
            raise _type_error(name, "a string", value, index)
    tags = item.tags
    if (
        tags is not None
        and not isinstance(tags, str)
        and (not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags))
    ):
        raise _type_error("tags", "a string or a list of strings", tags, index)
    if item.image is not None and not _is_image_value(item.image):
        raise _type_error("image", "a path, bytes, data URI, PIL image or numpy array", item.image, index)
    if item.images is not None:
        if not isinstance(item.images, (list, tuple)):
            raise _type_error("images", "a list of images", item.images, index)
        for i, img in enumerate(item.images):
            if not _is_image_value(img):
                raise ItemError(
                    f"images[{i}]: expected a path, bytes, data URI, PIL image or numpy array, "
                    f"got {type(img).__name__}",
                    index=index,
                    field="images",
                )
    _validate_video(item.video, index)
    _validate_audio(item.audio, index)
    sr = item.sampling_rate
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise ItemError(f"expected a positive int, got {sr!r}", index=index, field="sampling_rate")
    if item.id is not None and (isinstance(item.id, bool) or not isinstance(item.id, (str, int, np.integer))):
        raise _type_error("id", "a str or an int", item.id, index)


def _validate_video(video: object, index: int | None) -> None:
    if video is None:
        return
    if isinstance(video, (list, tuple)):
        for i, frame in enumerate(video):
            if not _is_image_value(frame):
                raise ItemError(
                    f"frame {i}: expected an image (PIL image, numpy array, path or bytes), "
                    f"got {type(frame).__name__}",
                    index=index,
                    field="video",
                )
        return
    if isinstance(video, np.ndarray):
        if video.ndim not in (3, 4):
            raise ItemError(
                f"a video array must be TxHxW or TxHxWxC, got shape {video.shape}", index=index, field="video"
            )
        return
    if not isinstance(video, (str, os.PathLike, bytes, bytearray, memoryview)):
        raise _type_error("video", "a path, bytes, data URI, numpy array or list of frames", video, index)


def _validate_audio(audio: object, index: int | None) -> None:
    if audio is None:
        return
    if isinstance(audio, Mapping):
        unknown = sorted(str(k) for k in audio if k not in AUDIO_DICT_KEYS)
        if unknown:
            raise ItemError(
                f"unknown audio dict key(s) {', '.join(map(repr, unknown))}; "
                f"expected 'array' + 'sampling_rate', 'bytes' or 'path'",
                index=index,
                field="audio",
            )
        if audio.get("array") is None and audio.get("bytes") is None and audio.get("path") is None:
            raise ItemError(
                "an audio dict needs 'array' (with 'sampling_rate'), 'bytes' or 'path'",
                index=index,
                field="audio",
            )
        return
    if not isinstance(audio, (str, os.PathLike, bytes, bytearray, memoryview, np.ndarray)):
        raise _type_error("audio", "a path, bytes, data URI, numpy array or audio dict", audio, index)
