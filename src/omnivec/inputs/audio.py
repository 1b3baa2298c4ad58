"""Audio → float32 mono at the processor's sampling rate, values in ``[-1, 1]``.

An audio value is a path, bytes or data URI (WAV/FLAC/OGG/... read with soundfile, anything else, such
as MP3, M4A or the audio track of an MP4, with PyAV), a numpy array (needs a sampling rate, from the
item's ``sampling_rate`` or the audio dict), or a dict ``{"array", "sampling_rate"}`` /
``{"bytes"}`` / ``{"path"}`` in the Hugging Face ``datasets`` style.

Channels are averaged to mono, then resampled with soxr (high quality). Integer PCM is scaled to
``[-1, 1]`` (``int16`` ÷ 32768, ...); float input is expected in ``[-1, 1]``: a small overshoot (peak up
to 1.5) is clipped, a larger peak is an error (it means the scale is wrong). A 2-D array is read as
channels-first when its first axis is the short one (≤ 16), else channels-last.

An explicit clip longer than ``max_audio_seconds`` is a :class:`MediaLimitError`; the audio track of a
video is truncated to that length instead (:func:`load_audio_track`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import av
import numpy as np
import soundfile as sf
import soxr

from omnivec.errors import ItemError, MediaDecodeError, MediaLimitError
from omnivec.inputs.item import MediaLimits
from omnivec.inputs.sources import MediaSource, SourcePolicy, open_av, resolve_source

__all__ = ["AudioContext", "load_audio", "load_audio_track", "to_waveform"]

_MAX_CHANNELS = 16
_MAX_FLOAT_PEAK = 1.5


@dataclass(frozen=True)
class AudioContext:
    """Target rate, limits, path policy, and the address used in error messages."""

    sampling_rate: int
    limits: MediaLimits
    policy: SourcePolicy
    index: int
    field: str = "audio"

    def error(self, cls: type[ItemError], message: str) -> ItemError:
        """An error of type ``cls`` addressed to this audio value."""
        return cls(message, index=self.index, field=self.field)


def load_audio(value: object, item_sampling_rate: int | None, ctx: AudioContext) -> np.ndarray:
    """Decode an explicit audio value; see the module docstring."""
    if isinstance(value, Mapping):
        if value.get("array") is not None:
            rate = value.get("sampling_rate", item_sampling_rate)
            return _from_array(value["array"], rate, ctx)
        payload = value["bytes"] if value.get("bytes") is not None else value["path"]
        return load_audio(payload, item_sampling_rate, ctx)
    if isinstance(value, np.ndarray):
        return _from_array(value, item_sampling_rate, ctx)
    if isinstance(value, MediaSource):
        return _decode_source(value, ctx)
    if isinstance(value, (str, os.PathLike, bytes, bytearray, memoryview)):
        src = resolve_source(value, ctx.policy, index=ctx.index, field=ctx.field)
        return _decode_source(src, ctx)
    raise ctx.error(
        ItemError, f"expected a path, bytes, data URI, numpy array or audio dict, got {type(value).__name__}"
    )


def load_audio_track(src: MediaSource, ctx: AudioContext) -> np.ndarray | None:
    """The audio track of a video source, truncated to ``max_audio_seconds``; ``None`` if it has none."""
    try:
        decoded = _read_with_av(src, ctx, truncate=True, allow_missing=True)
    except ItemError:
        raise
    except Exception as exc:
        raise ctx.error(MediaDecodeError, f"could not decode the audio track of {src.name}: {exc}") from exc
    if decoded is None:
        return None
    samples, rate = decoded
    return to_waveform(samples, rate, ctx, name=f"the audio track of {src.name}")


def to_waveform(samples: np.ndarray, rate: int, ctx: AudioContext, *, name: str = "audio") -> np.ndarray:
    """Float ``(channels, n)`` samples at ``rate`` → mono float32 at ``ctx.sampling_rate`` in ``[-1, 1]``."""
    if samples.size == 0:
        raise ctx.error(MediaDecodeError, f"{name} is empty")
    if not np.isfinite(samples).all():
        raise ctx.error(MediaDecodeError, f"{name} has NaN or infinite values")
    mono = samples.mean(axis=0, dtype=np.float64) if samples.ndim == 2 else samples.astype(np.float64)
    if rate != ctx.sampling_rate:
        mono = soxr.resample(mono, rate, ctx.sampling_rate, quality="HQ")
    return np.clip(mono, -1.0, 1.0).astype(np.float32)


def _from_array(array: object, rate: object, ctx: AudioContext) -> np.ndarray:
    if rate is None:
        raise ctx.error(
            ItemError, "a numpy audio array needs a sampling_rate (on the item or in the audio dict)"
        )
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ctx.error(ItemError, f"sampling_rate must be a positive int, got {rate!r}")
    a = np.asarray(array)
    if a.ndim == 2:
        if a.shape[0] <= _MAX_CHANNELS and a.shape[0] < a.shape[1]:
            pass  # (channels, n)
        elif a.shape[1] <= _MAX_CHANNELS and a.shape[1] < a.shape[0]:
            a = a.T  # (n, channels)
        else:
            raise ctx.error(
                ItemError, f"cannot tell channels from samples in an audio array of shape {a.shape}"
            )
    elif a.ndim != 1:
        raise ctx.error(ItemError, f"an audio array must be 1-D (or channels x samples), got shape {a.shape}")
    samples = _scale(a, ctx)
    seconds = samples.shape[-1] / int(rate)
    if seconds > ctx.limits.max_audio_seconds:
        raise ctx.error(MediaLimitError, _too_long(seconds, ctx))
    return to_waveform(samples, int(rate), ctx)


def _scale(a: np.ndarray, ctx: AudioContext) -> np.ndarray:
    """Integer PCM → float in [-1, 1]; float checked for scale. Returns float32 or float64."""
    if np.issubdtype(a.dtype, np.signedinteger):
        return a.astype(np.float64) / float(2 ** (8 * a.dtype.itemsize - 1))
    if np.issubdtype(a.dtype, np.unsignedinteger):
        half = float(2 ** (8 * a.dtype.itemsize - 1))
        return (a.astype(np.float64) - half) / half
    if np.issubdtype(a.dtype, np.floating):
        if a.size and np.isfinite(a).all() and np.abs(a).max() > _MAX_FLOAT_PEAK:
            raise ctx.error(
                ItemError,
                f"float audio must lie in [-1, 1], got a peak of {float(np.abs(a).max()):.3g}; "
                "pass integer PCM as an integer array",
            )
        return a
    raise ctx.error(ItemError, f"unsupported audio array dtype {a.dtype}")


def _too_long(seconds: float, ctx: AudioContext) -> str:
    return f"audio is {seconds:.1f} s long, more than max_audio_seconds={ctx.limits.max_audio_seconds:g}"


def _decode_source(src: MediaSource, ctx: AudioContext) -> np.ndarray:
    decoded = _read_with_soundfile(src, ctx)
    if decoded is None:
        try:
            decoded = _read_with_av(src, ctx, truncate=False, allow_missing=False)
        except ItemError:
            raise
        except Exception as exc:
            raise ctx.error(MediaDecodeError, f"could not decode {src.name}: {exc}") from exc
        assert decoded is not None
    samples, rate = decoded
    return to_waveform(samples, rate, ctx, name=src.name)


def _read_with_soundfile(src: MediaSource, ctx: AudioContext) -> tuple[np.ndarray, int] | None:
    """``(channels, n)`` float32 and the rate, or ``None`` when libsndfile cannot read the format."""
    with src.open() as fp:
        try:
            with sf.SoundFile(fp) as f:
                rate = int(f.samplerate)
                claimed = int(f.frames)
                limit = int(ctx.limits.max_audio_seconds * rate)
                data = f.read(frames=limit + 1, dtype="float32", always_2d=True)
        except (RuntimeError, TypeError, ValueError):  # sf.LibsndfileError is a RuntimeError
            return None
    if data.shape[0] > limit:
        raise ctx.error(MediaLimitError, _too_long(max(claimed, data.shape[0]) / rate, ctx))
    return data.T, rate


def _read_with_av(
    src: MediaSource, ctx: AudioContext, *, truncate: bool, allow_missing: bool
) -> tuple[np.ndarray, int] | None:
    """Decode the first audio stream with PyAV → ``(channels, n)`` float32 and its rate."""
    max_seconds = ctx.limits.max_audio_seconds
    with open_av(src) as container:
        if not container.streams.audio:
            if allow_missing:
                return None
            raise ctx.error(MediaDecodeError, f"could not decode {src.name}: no audio stream")
        stream = container.streams.audio[0]
        if not truncate and stream.duration is not None and stream.time_base is not None:
            claimed = float(stream.duration * stream.time_base)
            if claimed > max_seconds:
                raise ctx.error(MediaLimitError, _too_long(claimed, ctx))
        resampler = av.AudioResampler(format="fltp")  # keep layout and rate, just planar float
        chunks: list[np.ndarray] = []
        total = 0
        rate = 0
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                rate = rate or int(out.sample_rate)
                chunk = out.to_ndarray()
                chunks.append(chunk)
                total += chunk.shape[1]
            if rate and total > max_seconds * rate:
                if not truncate:
                    raise ctx.error(MediaLimitError, _too_long(total / rate, ctx))
                break
        else:
            for out in resampler.resample(None):
                rate = rate or int(out.sample_rate)
                chunks.append(out.to_ndarray())
    if not chunks or not rate:
        raise ctx.error(MediaDecodeError, f"{src.name}: the audio stream has no samples")
    samples = np.concatenate(chunks, axis=1)
    return samples[:, : int(max_seconds * rate)], rate
