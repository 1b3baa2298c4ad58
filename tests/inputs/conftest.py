"""Media factories for the inputs tests: small images, videos and audio written into ``tmp_path``."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from omnivec.inputs import ItemProcessor

#: Brightness step between consecutive frames of :func:`write_indexed_video` (frame i has value i * STEP).
STEP = 8


def _video_codec() -> tuple[str, dict[str, str]]:
    """A near-lossless encoder available in this PyAV build."""
    try:
        av.codec.Codec("libx264", "w")
        return "libx264", {"crf": "0"}
    except Exception:  # pragma: no cover - depends on the FFmpeg build
        return "mpeg4", {"qscale": "1"}


def write_indexed_video(
    path: Path,
    n_frames: int,
    *,
    fps: int = 10,
    size: tuple[int, int] = (64, 48),
    audio_rate: int | None = None,
    container_format: str | None = None,
    rotation: int | None = None,
) -> Path:
    """Write a video whose frame ``i`` is a flat grey of value ``i * STEP``, optionally with a sine audio track."""
    codec, options = _video_codec()
    if container_format == "raw":  # an elementary stream: no frame count, no duration
        container_format = "h264" if codec == "libx264" else "m4v"
    width, height = size
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        audio_stream = None
        if audio_rate is not None:
            audio_stream = out.add_stream("aac", rate=audio_rate)
            audio_stream.layout = "mono"
        for i in range(n_frames):
            pixels = np.full((height, width, 3), i * STEP, np.uint8)
            if rotation is not None:
                pixels[: height // 4, : width // 4] = (255, 0, 0)  # a red marker top-left
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if audio_stream is not None:
            assert audio_rate is not None
            t = np.arange(int(audio_rate * n_frames / fps)) / audio_rate
            wave = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)[None, :]
            for start in range(0, wave.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(wave[:, start : start + 1024]), format="fltp", layout="mono"
                )
                frame.sample_rate = audio_rate
                for packet in audio_stream.encode(frame):
                    out.mux(packet)
            for packet in audio_stream.encode():
                out.mux(packet)
    return path


def frame_index(frame: np.ndarray) -> int:
    """Recover the index a frame of :func:`write_indexed_video` encodes."""
    return round(float(frame.mean()) / STEP)


def png_bytes(image: Image.Image) -> bytes:
    """Encode ``image`` as PNG."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    """Encode ``samples`` (n or n x channels) as WAV."""
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.fixture
def processor() -> ItemProcessor:
    """A small processor: 32 px images, 8 frames, 16 kHz audio."""
    return ItemProcessor(image_size=32, num_frames=8, sampling_rate=16_000)


@pytest.fixture
def media() -> SimpleNamespace:
    """The factories above, for test modules (conftest helpers are not importable by name)."""
    return SimpleNamespace(
        video=write_indexed_video, frame_index=frame_index, png=png_bytes, wav=wav_bytes, step=STEP
    )
