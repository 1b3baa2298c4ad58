"""Images: resize, RGBA on white, EXIF orientation, arrays, pixel limits, corrupt and refused formats."""

from __future__ import annotations

import io
import struct
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from omnivec.errors import ItemError, MediaDecodeError, MediaLimitError
from omnivec.inputs import ItemProcessor, MediaLimits


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height``, with (almost) no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_uniform_resize_without_crop(processor: ItemProcessor, media: SimpleNamespace) -> None:
    img = np.zeros((20, 80, 3), np.uint8)
    img[:, :40] = (255, 0, 0)  # left half red, right half blue: a crop would lose one
    img[:, 40:] = (0, 0, 255)
    out = processor.decode({"image": media.png(Image.fromarray(img))}, 0)
    frame = out.frames[0]
    assert frame.shape == (32, 32, 3) and frame.dtype == np.uint8
    assert out.modalities == frozenset({"image"}) and out.num_images == 1
    np.testing.assert_array_equal(frame[:, :14], np.broadcast_to([255, 0, 0], (32, 14, 3)))
    np.testing.assert_array_equal(frame[:, 18:], np.broadcast_to([0, 0, 255], (32, 14, 3)))


def test_rgba_is_composited_on_white(processor: ItemProcessor, media: SimpleNamespace) -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :5, 3] = 255  # left opaque red, right fully transparent
    for value in (
        media.png(Image.fromarray(rgba, "RGBA")),
        rgba,
        Image.fromarray(rgba, "RGBA").convert("LA"),
    ):
        frame = processor.decode({"image": value}, 0).frames[0]
        assert frame.shape == (32, 32, 3)
        assert (frame[:, -8:] == 255).all()  # white where transparent


def test_exif_orientation_is_applied(processor: ItemProcessor) -> None:
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif, quality=95)
    frame = processor.decode({"image": buf.getvalue()}, 0).frames[0]
    assert frame[:12].mean() > 200 and frame[-12:].mean() < 50  # left half went to the top


def test_arrays_grayscale_float_and_bad_shapes(processor: ItemProcessor) -> None:
    gray = processor.decode({"image": np.full((5, 7), 200, np.uint8)}, 0).frames[0]
    assert gray.shape == (32, 32, 3) and (gray == 200).all()
    unit = processor.decode({"image": np.full((5, 7, 3), 0.5)}, 0).frames[0]
    assert (unit == 128).all()
    with pytest.raises(ItemError, match="channels last"):
        processor.decode({"image": np.zeros((3, 16, 16), np.uint8)}, 0)
    with pytest.raises(ItemError, match=r"\[0, 1\]"):
        processor.decode({"image": np.full((4, 4, 3), 200.0)}, 0)


def test_pixel_limit_is_checked_before_decoding(media: SimpleNamespace) -> None:
    data = media.png(Image.new("RGB", (100, 100)))[:60]  # header intact, pixel data cut off
    small = ItemProcessor(
        image_size=8, num_frames=1, sampling_rate=16_000, limits=MediaLimits(max_pixels=5_000)
    )
    with pytest.raises(MediaLimitError, match="100x100 = 10000 pixels, more than max_pixels=5000") as info:
        small.decode({"image": data}, 6)
    assert (info.value.index, info.value.field) == (6, "image")
    large = ItemProcessor(image_size=8, num_frames=1, sampling_rate=16_000)
    with pytest.raises(MediaDecodeError):  # within the limit the truncation is found by decoding
        large.decode({"image": data}, 0)
    with pytest.raises(MediaLimitError):  # in-memory images obey the same limit
        small.decode({"image": np.zeros((100, 100, 3), np.uint8)}, 0)


def test_decompression_bomb_guard_is_a_limit_error() -> None:
    loose = ItemProcessor(
        image_size=8, num_frames=1, sampling_rate=16_000, limits=MediaLimits(max_pixels=10**12)
    )
    with pytest.raises(MediaLimitError, match="decompression bomb"):
        loose.decode({"image": _png_header(20_000, 10_000)}, 0)  # 2e8 px > 2 x Image.MAX_IMAGE_PIXELS


def test_corrupt_bytes_report_the_pil_message(processor: ItemProcessor) -> None:
    with pytest.raises(MediaDecodeError) as info:
        processor.decode({"title": "x", "images": [np.zeros((2, 2, 3), np.uint8), b"not an image"]}, 9)
    err = info.value
    assert (err.index, err.field) == (9, "images")
    assert str(err).startswith(
        "item 9, field 'images': images[1]: could not decode <12 bytes>: cannot identify image"
    )


def test_eps_is_not_opened(processor: ItemProcessor) -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(MediaDecodeError, match="cannot identify image"):
        processor.decode({"image": eps}, 0)


def test_too_many_images(media: SimpleNamespace) -> None:
    proc = ItemProcessor(image_size=8, num_frames=1, sampling_rate=16_000, limits=MediaLimits(max_images=2))
    img = np.zeros((4, 4, 3), np.uint8)
    assert len(proc.decode({"image": img, "images": [img]}, 0).frames) == 2
    with pytest.raises(MediaLimitError, match="3 images, more than max_images=2"):
        proc.decode({"image": img, "images": [img, img]}, 0)
