"""Images → ``uint8`` arrays of shape ``(size, size, 3)``, with Pillow.

Steps: open lazily and check the pixel count from the header (before any pixel is decoded; Pillow's
decompression-bomb guard is turned into :class:`MediaLimitError` too), decode (JPEGs at a reduced
scale when much larger than needed), apply the EXIF orientation, convert to RGB compositing any alpha
on white, and resize uniformly to ``size × size`` with bicubic filtering: no crop, the aspect ratio is
not kept (the "uniform resize" of SAIL-Embedding).

Only common raster formats are opened (see :data:`ALLOWED_FORMATS`); in particular EPS, which would run
Ghostscript, is refused. numpy arrays are read as RGB (channels last): ``uint8`` as is, ``bool`` as
0/255, other integers must lie in ``[0, 255]`` and floats in ``[0, 1]``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from omnivec.errors import ItemError, MediaDecodeError, MediaLimitError
from omnivec.inputs.item import MediaLimits
from omnivec.inputs.sources import MediaSource, SourcePolicy, resolve_source

__all__ = ["ALLOWED_FORMATS", "ImageContext", "array_to_image", "finish_image", "load_image", "to_rgb"]

#: Pillow formats omnivec opens; anything else is a decode error.
ALLOWED_FORMATS: tuple[str, ...] = (
    "JPEG",
    "PNG",
    "WEBP",
    "GIF",
    "BMP",
    "DIB",
    "TIFF",
    "AVIF",
    "JPEG2000",
    "ICO",
    "PPM",
    "TGA",
    "QOI",
    "PSD",
)

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_WHITE = (255, 255, 255, 255)
_FILE_REPR = re.compile(r"\s*<_io\.\w+ (?:name=.*?|object at 0x[0-9a-fA-F]+)>")


@dataclass(frozen=True)
class ImageContext:
    """Where an image sits (for error messages) and the settings that shape its decoding."""

    size: int
    limits: MediaLimits
    policy: SourcePolicy
    index: int
    field: str
    label: str = ""  # e.g. "images[2]: " or "frame 7: ", prefixed to messages

    def error(self, cls: type[ItemError], message: str) -> ItemError:
        """An error of type ``cls`` addressed to this image."""
        return cls(self.label + message, index=self.index, field=self.field)


def load_image(value: object, ctx: ImageContext) -> np.ndarray:
    """Decode one image value (path, bytes, data URI, PIL image or numpy array) to ``(size, size, 3)``."""
    if isinstance(value, Image.Image):
        _check_pixels(value.width, value.height, ctx)
        try:
            im = ImageOps.exif_transpose(value)
        except Exception as exc:  # broken EXIF on an in-memory image: keep it as is
            del exc
            im = value
        return finish_image(im, ctx.size)
    if isinstance(value, np.ndarray):
        return finish_image(array_to_image(value, ctx), ctx.size)
    if isinstance(value, MediaSource):
        return _decode_source(value, ctx)
    if isinstance(value, (str, os.PathLike, bytes, bytearray, memoryview)):
        return _decode_source(resolve_source(value, ctx.policy, index=ctx.index, field=ctx.field), ctx)
    raise ctx.error(ItemError, f"expected an image, got {type(value).__name__}")


def _check_pixels(width: int, height: int, ctx: ImageContext) -> None:
    if width * height > ctx.limits.max_pixels:
        raise ctx.error(
            MediaLimitError,
            f"image is {width}x{height} = {width * height} pixels, more than max_pixels={ctx.limits.max_pixels}",
        )
    if width <= 0 or height <= 0:
        raise ctx.error(MediaDecodeError, f"image has no pixels ({width}x{height})")


def _decode_source(src: MediaSource, ctx: ImageContext) -> np.ndarray:
    try:
        fp = src.open()
    except OSError as exc:
        raise ctx.error(MediaDecodeError, f"could not decode {src.name}: {exc}") from exc
    with fp:
        try:
            im = Image.open(fp, formats=ALLOWED_FORMATS)
        except Image.DecompressionBombError as exc:
            raise ctx.error(MediaLimitError, f"{src.name}: {exc}") from exc
        except Exception as exc:
            raise ctx.error(MediaDecodeError, f"could not decode {src.name}: {_message(exc)}") from exc
        with im:
            _check_pixels(im.width, im.height, ctx)
            try:
                if im.format == "JPEG":
                    im.draft(im.mode, (ctx.size, ctx.size))  # decode at 1/2, 1/4, 1/8 scale when possible
                im.load()
                oriented = ImageOps.exif_transpose(im)
                return finish_image(oriented, ctx.size)
            except Image.DecompressionBombError as exc:
                raise ctx.error(MediaLimitError, f"{src.name}: {exc}") from exc
            except ItemError:
                raise
            except Exception as exc:
                raise ctx.error(MediaDecodeError, f"could not decode {src.name}: {_message(exc)}") from exc


def _message(exc: Exception) -> str:
    """Pillow's message without the ``<_io.BytesIO object at 0x...>`` it appends."""
    text = _FILE_REPR.sub("", str(exc)).strip()
    return text or type(exc).__name__


def array_to_image(array: np.ndarray, ctx: ImageContext) -> Image.Image:
    """A PIL image from an ``HxW``, ``HxWx1``, ``HxWx3`` (RGB) or ``HxWx4`` (RGBA) array."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ctx.error(
            ItemError, f"an image array must be HxW, HxWx3 or HxWx4 (channels last), got shape {a.shape}"
        )
    _check_pixels(a.shape[1], a.shape[0], ctx)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.integer) and a.dtype != np.uint8:
        if a.min() < 0 or a.max() > 255:
            raise ctx.error(ItemError, f"integer image values must lie in [0, 255], got {a.min()}..{a.max()}")
        a = a.astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ctx.error(MediaDecodeError, "image array has NaN or infinite values")
        if a.min() < 0.0 or a.max() > 1.0:
            raise ctx.error(ItemError, "float image values must lie in [0, 1]; pass uint8 for 0..255")
        a = np.round(a * 255.0).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ctx.error(ItemError, f"unsupported image array dtype {a.dtype}")
    return Image.fromarray(np.ascontiguousarray(a))


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparency is composited on white, 16-bit is scaled down."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im).astype(np.float64)
        scale = 257.0 if im.mode != "I" or a.max(initial=0) > 255 else 1.0
        im = Image.fromarray(np.clip(np.round(a / scale), 0, 255).astype(np.uint8))
    elif im.mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        a = a * 255.0 if a.max(initial=0) <= 1.0 else a
        im = Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8))
    if "transparency" in im.info and im.mode in ("P", "L", "RGB"):
        im = im.convert("RGBA")
    if im.mode in _ALPHA_MODES:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def finish_image(im: Image.Image, size: int) -> np.ndarray:
    """RGB + bicubic resize to ``size × size`` → a fresh ``uint8`` array ``(size, size, 3)``."""
    rgb = to_rgb(im)
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
    return np.array(rgb, dtype=np.uint8)
