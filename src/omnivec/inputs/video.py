"""Videos → ``num_frames`` uniformly sampled frames, each ``uint8`` ``(size, size, 3)``, with PyAV.

A video is a path, bytes or data URI (decoded with PyAV), a ``TxHxW[xC]`` numpy array, or a list of
frames (each any image value). Sampling takes the centre of each of ``num_frames`` equal segments of
the stream (:func:`uniform_indices`); a video with fewer frames gives all of them, never duplicates.

Encoded videos are decoded sequentially. The frame count comes from the container (frame count, else
duration × rate); the sampled frames are converted as they pass. If the count the container gave turns
out wrong, the decoder knows the true count at the end and decodes a second time to pick the right
frames. Frames honour the stream's display rotation and are resized like images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image

from omnivec.errors import ItemError, MediaDecodeError, MediaLimitError
from omnivec.inputs.image import ImageContext, array_to_image, finish_image, load_image
from omnivec.inputs.item import MediaLimits
from omnivec.inputs.sources import MediaSource, SourcePolicy, open_av, resolve_source

__all__ = ["VideoContext", "load_video", "uniform_indices"]

_ROTATIONS = {
    90: Image.Transpose.ROTATE_90,
    -270: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    -180: Image.Transpose.ROTATE_180,
    -90: Image.Transpose.ROTATE_270,
    270: Image.Transpose.ROTATE_270,
}


@dataclass(frozen=True)
class VideoContext:
    """Settings for decoding one video and its address for error messages."""

    size: int
    num_frames: int
    limits: MediaLimits
    policy: SourcePolicy
    index: int
    field: str = "video"

    def error(self, cls: type[ItemError], message: str) -> ItemError:
        """An error of type ``cls`` addressed to this video."""
        return cls(message, index=self.index, field=self.field)

    def image_context(self, label: str = "") -> ImageContext:
        """The context for decoding one of this video's frames as an image."""
        return ImageContext(self.size, self.limits, self.policy, self.index, self.field, label)


def uniform_indices(total: int, count: int) -> list[int]:
    """Indices of ``count`` frames spread evenly over ``total``: the centre of each equal segment.

    All indices (``0..total-1``) when ``total <= count``.
    """
    if total <= count:
        return list(range(total))
    return [int((i + 0.5) * total / count) for i in range(count)]


def load_video(value: object, ctx: VideoContext) -> list[np.ndarray]:
    """Decode and sample a video value (or an already resolved :class:`MediaSource`); see the module docstring."""
    if isinstance(value, (list, tuple)):
        _check_count(len(value), ctx)
        return [
            load_image(value[i], ctx.image_context(f"frame {i}: "))
            for i in uniform_indices(len(value), ctx.num_frames)
        ]
    if isinstance(value, np.ndarray):
        if value.ndim not in (3, 4):
            raise ctx.error(ItemError, f"a video array must be TxHxW or TxHxWxC, got shape {value.shape}")
        _check_count(value.shape[0], ctx)
        return [
            finish_image(array_to_image(value[i], ctx.image_context(f"frame {i}: ")), ctx.size)
            for i in uniform_indices(value.shape[0], ctx.num_frames)
        ]
    if isinstance(value, (str, os.PathLike, bytes, bytearray, memoryview, MediaSource)):
        src = (
            value
            if isinstance(value, MediaSource)
            else resolve_source(value, ctx.policy, index=ctx.index, field=ctx.field)
        )
        try:
            return _decode_source(src, ctx)
        except ItemError:
            raise
        except Exception as exc:  # PyAV/FFmpeg errors of every kind
            raise ctx.error(MediaDecodeError, f"could not decode {src.name}: {exc}") from exc
    raise ctx.error(
        ItemError, f"expected a path, bytes, data URI, array or list of frames, got {type(value).__name__}"
    )


def _check_count(count: int, ctx: VideoContext) -> None:
    if count == 0:
        raise ctx.error(MediaDecodeError, "video has no frames")
    if count > ctx.limits.max_frames:
        raise ctx.error(
            MediaLimitError, f"video has {count} frames, more than max_frames={ctx.limits.max_frames}"
        )


def _estimate_frames(container: av.container.InputContainer, stream: av.VideoStream) -> int:
    """The frame count the container claims (0 when it does not say)."""
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    rate = stream.average_rate or stream.guessed_rate
    if not rate:
        return 0
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    else:
        return 0
    return max(round(seconds * float(rate)), 0)


def _decode_source(src: MediaSource, ctx: VideoContext) -> list[np.ndarray]:
    picked, total = _decode_pass(src, ctx, targets=None)
    if total == 0:
        raise ctx.error(MediaDecodeError, f"could not decode {src.name}: no video frames could be decoded")
    wanted = uniform_indices(total, ctx.num_frames)
    if any(i not in picked for i in wanted):  # the container's frame count was wrong: decode again
        picked, total = _decode_pass(src, ctx, targets=wanted)
    return [picked[i] for i in wanted if i in picked]


def _decode_pass(
    src: MediaSource, ctx: VideoContext, targets: list[int] | None
) -> tuple[dict[int, np.ndarray], int]:
    """Decode every frame once; convert those at ``targets`` (default: from the container's count).

    Returns the converted frames by index and the true frame count.
    """
    limits = ctx.limits
    with open_av(src) as container:
        if not container.streams.video:
            raise ctx.error(MediaDecodeError, f"could not decode {src.name}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > limits.max_pixels:
            raise ctx.error(
                MediaLimitError,
                f"video frames are {width}x{height} = {width * height} pixels, more than max_pixels={limits.max_pixels}",
            )
        estimate = _estimate_frames(container, stream)
        if estimate > limits.max_frames:
            raise ctx.error(
                MediaLimitError, f"video has {estimate} frames, more than max_frames={limits.max_frames}"
            )
        wanted = set(uniform_indices(estimate, ctx.num_frames) if targets is None else targets)
        picked: dict[int, np.ndarray] = {}
        count = 0
        for frame in container.decode(stream):
            if count >= limits.max_frames:
                raise ctx.error(MediaLimitError, f"video has more than max_frames={limits.max_frames} frames")
            if count in wanted:
                picked[count] = _frame_to_array(frame, ctx)
            count += 1
    return picked, count


def _frame_to_array(frame: av.VideoFrame, ctx: VideoContext) -> np.ndarray:
    if frame.width * frame.height > ctx.limits.max_pixels:
        raise ctx.error(
            MediaLimitError,
            f"a video frame is {frame.width}x{frame.height} pixels, more than max_pixels={ctx.limits.max_pixels}",
        )
    image = frame.to_image()
    transpose = _ROTATIONS.get(round(frame.rotation or 0))
    if transpose is not None:
        image = image.transpose(transpose)
    return finish_image(image, ctx.size)
