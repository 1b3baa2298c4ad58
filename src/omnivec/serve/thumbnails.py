"""Cover thumbnails of indexed items, for the search page.

Only files the index lists can be served: the route takes an item id, never a path, and the item's cover
(its ``image``, else its first ``images`` entry, else a frame of its ``video``) must resolve, symlinks and
``..`` resolved, inside the configured media root (the same rule as :class:`omnivec.inputs.ItemProcessor`;
relative paths start from ``base_dir``, the folder of the index's items file, else from the media root).
Without a media root there are no thumbnails. The cover is decoded (so only real images and videos come
out) and re-encoded as a JPEG of at most ``size`` pixels a side, aspect ratio kept.
"""

from __future__ import annotations

import collections
import io
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from omnivec.errors import ItemError
from omnivec.inputs import MediaLimits
from omnivec.inputs.image import ALLOWED_FORMATS, to_rgb
from omnivec.inputs.sources import MediaSource, SourcePolicy, resolve_source
from omnivec.inputs.video import VideoContext, load_video

__all__ = ["Thumbnails", "cover_of"]


def cover_of(fields: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """``(kind, value)`` of an item's cover: ``image``, ``images[0]`` or ``video`` (string values only)."""
    if not fields:
        return None
    image = fields.get("image")
    if isinstance(image, str) and image:
        return "image", image
    images = fields.get("images")
    if isinstance(images, (list, tuple)) and images and isinstance(images[0], str) and images[0]:
        return "image", images[0]
    video = fields.get("video")
    if isinstance(video, str) and video:
        return "video", video
    return None


class Thumbnails:
    """Renders (and caches) JPEG thumbnails of index items (see the module docstring)."""

    def __init__(
        self,
        index: Any,
        media_root: Path | None,
        limits: MediaLimits,
        size: int = 256,
        cache_size: int = 256,
        base_dir: Path | None = None,
    ) -> None:
        self.index = index
        self.limits = limits
        self.size = size
        self.policy = (
            SourcePolicy(
                max_bytes=limits.max_bytes,
                base_dir=base_dir.resolve() if base_dir is not None else None,
                allow_paths=False,
                media_root=media_root.resolve(),
            )
            if media_root is not None
            else None
        )
        self._cache: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.index is not None and self.policy is not None

    def available(self, fields: Mapping[str, Any] | None) -> bool:
        """Whether an item with these fields has a cover that passes the media-root rule (not yet decoded)."""
        cover = cover_of(fields) if self.enabled else None
        if cover is None:
            return False
        assert self.policy is not None
        try:
            resolve_source(cover[1], self.policy, index=0, field=cover[0])
        except ItemError:
            return False
        return True

    def render(self, item_id: str) -> bytes | None:
        """The JPEG thumbnail of ``item_id``, or ``None`` when it has no servable cover."""
        if not self.enabled:
            return None
        with self._lock:
            if item_id in self._cache:
                self._cache.move_to_end(item_id)
                return self._cache[item_id]
        cover = cover_of(self.index.item(item_id))
        if cover is None:
            return None
        kind, value = cover
        assert self.policy is not None
        try:
            src = resolve_source(value, self.policy, index=0, field=kind)
            data = self._image(src) if kind == "image" else self._video(src)
        except ItemError:
            return None
        with self._lock:
            self._cache[item_id] = data
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return data

    def _image(self, src: MediaSource) -> bytes:
        try:
            with src.open() as fp, Image.open(fp, formats=ALLOWED_FORMATS) as im:
                if im.width * im.height > self.limits.max_pixels:
                    raise ItemError("cover image is over max_pixels")
                im.draft("RGB", (self.size, self.size))
                im.load()
                rgb = to_rgb(ImageOps.exif_transpose(im))
        except ItemError:
            raise
        except Exception as exc:  # a broken or unreadable file: no thumbnail
            raise ItemError(f"cover could not be decoded: {type(exc).__name__}") from exc
        rgb.thumbnail((self.size, self.size), Image.Resampling.BICUBIC)
        return _jpeg(rgb)

    def _video(self, src: MediaSource) -> bytes:
        ctx = VideoContext(self.size, 1, self.limits, self.policy, 0)  # type: ignore[arg-type]
        frames = load_video(src, ctx)
        return _jpeg(Image.fromarray(frames[0]))


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=85)
    return buf.getvalue()
