"""Audio: resampling, mono, integer scaling, sampling-rate rules, limits, containers, bad input."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
import soundfile as sf

from omnivec.errors import ItemError, MediaDecodeError, MediaLimitError
from omnivec.inputs import ItemProcessor, MediaLimits


def _sine(seconds: float, rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(audio: np.ndarray, rate: int) -> float:
    return float(np.argmax(np.abs(np.fft.rfft(audio))) * rate / len(audio))


def test_resampled_length_and_content(processor: ItemProcessor, media: SimpleNamespace) -> None:
    wave = _sine(1.0, 44_100)
    for value in (media.wav(wave, 44_100), {"array": wave, "sampling_rate": 44_100}):
        out = processor.decode({"audio": value}, 0)
        assert out.modalities == frozenset({"audio"})
        assert out.audio is not None and out.audio.dtype == np.float32
        assert out.audio.shape == (16_000,)
        assert abs(_peak_hz(out.audio, 16_000) - 440) < 2
        assert 0.34 < np.sqrt(np.mean(out.audio[1000:-1000] ** 2)) < 0.37


def test_stereo_is_averaged_to_mono(processor: ItemProcessor, media: SimpleNamespace) -> None:
    left, right = _sine(0.5, 16_000, amp=0.6), np.full(8000, 0.2, np.float32)
    expected = (left + right) / 2
    for value in (
        {"array": np.stack([left, right]), "sampling_rate": 16_000},  # channels first
        {"array": np.stack([left, right], axis=1), "sampling_rate": 16_000},  # channels last
        media.wav(np.stack([left, right], axis=1), 16_000, subtype="FLOAT"),
    ):
        audio = processor.decode({"audio": value}, 0).audio
        assert audio is not None
        np.testing.assert_allclose(audio, expected, atol=1e-6)


def test_integer_pcm_is_scaled(processor: ItemProcessor) -> None:
    pcm = np.array([0, 16384, -16384, 32767, -32768] * 100, np.int16)
    audio = processor.decode({"audio": pcm, "sampling_rate": 16_000}, 0).audio
    assert audio is not None
    np.testing.assert_allclose(audio[:5], [0.0, 0.5, -0.5, 32767 / 32768, -1.0], atol=1e-6)
    u8 = processor.decode({"audio": np.array([128, 192, 0] * 10, np.uint8), "sampling_rate": 16_000}, 0).audio
    assert u8 is not None
    np.testing.assert_allclose(u8[:3], [0.0, 0.5, -1.0])


def test_numpy_audio_needs_a_sampling_rate(processor: ItemProcessor) -> None:
    with pytest.raises(ItemError) as info:
        processor.decode({"title": "x", "audio": np.zeros(100, np.float32)}, 8)
    assert (info.value.index, info.value.field) == (8, "audio")
    assert "needs a sampling_rate" in str(info.value)
    item_level = processor.decode({"audio": np.zeros(100, np.float32), "sampling_rate": 8000}, 0).audio
    assert item_level is not None and item_level.shape == (200,)


def test_too_long_audio_is_refused(media: SimpleNamespace, tmp_path: Path) -> None:
    proc = ItemProcessor(
        image_size=8, num_frames=1, sampling_rate=8000, limits=MediaLimits(max_audio_seconds=1.0)
    )
    ok = proc.decode({"audio": np.zeros(8000, np.float32), "sampling_rate": 8000}, 0).audio
    assert ok is not None and len(ok) == 8000
    with pytest.raises(MediaLimitError, match=r"1\.5 s long, more than max_audio_seconds=1") as info:
        proc.decode({"audio": np.zeros(12_000, np.float32), "sampling_rate": 8000}, 4)
    assert (info.value.index, info.value.field) == (4, "audio")
    (tmp_path / "long.wav").write_bytes(media.wav(np.zeros(16_000, np.float32), 8000))
    with pytest.raises(MediaLimitError, match=r"2\.0 s long"):
        proc.decode({"audio": tmp_path / "long.wav"}, 0)


def test_non_soundfile_containers_fall_back_to_pyav(processor: ItemProcessor) -> None:
    buf = io.BytesIO()
    with av.open(buf, "w", format="ipod") as out:  # an .m4a with AAC
        stream = out.add_stream("aac", rate=24_000)
        stream.layout = "stereo"
        wave = np.stack([_sine(1.0, 24_000), _sine(1.0, 24_000)])
        for start in range(0, wave.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(wave[:, start : start + 1024]), format="fltp", layout="stereo"
            )
            frame.sample_rate = 24_000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = buf.getvalue()
    with pytest.raises(sf.LibsndfileError):
        sf.info(io.BytesIO(data))  # soundfile cannot read it ...
    audio = processor.decode({"audio": data}, 0).audio  # ... PyAV can
    assert audio is not None and 1.0 <= len(audio) / 16_000 < 1.15
    assert abs(_peak_hz(audio[2000:14_000], 16_000) - 440) < 3


def test_empty_nan_and_corrupt_audio(processor: ItemProcessor, media: SimpleNamespace) -> None:
    with pytest.raises(MediaDecodeError, match="empty"):
        processor.decode({"audio": {"array": np.zeros(0, np.float32), "sampling_rate": 16_000}}, 0)
    with pytest.raises(MediaDecodeError, match="NaN"):
        processor.decode(
            {"audio": {"array": np.array([0.1, np.nan], np.float32), "sampling_rate": 16_000}}, 0
        )
    with pytest.raises(MediaDecodeError, match="empty"):
        processor.decode({"audio": media.wav(np.zeros(0, np.float32), 16_000)}, 0)
    with pytest.raises(MediaDecodeError) as info:
        processor.decode({"audio": b"RIFF....WAVEjunkjunk" * 3}, 2)
    assert str(info.value).startswith("item 2, field 'audio': could not decode <60 bytes>: ")


def test_float_audio_out_of_scale_is_refused(processor: ItemProcessor) -> None:
    with pytest.raises(ItemError, match="float audio must lie in"):
        processor.decode({"audio": np.array([0.0, 300.0], np.float32), "sampling_rate": 16_000}, 0)
    slight = processor.decode(
        {"audio": np.array([1.2, -1.2, 0.5], np.float32), "sampling_rate": 16_000}, 0
    ).audio
    assert slight is not None
    np.testing.assert_allclose(slight, [1.0, -1.0, 0.5])
