"""The shared decoded-media cache: files decode once, changed files and other settings decode again, bytes and
errors are never kept, the byte bound evicts least recently used entries, and results equal uncached ones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from omnivec.errors import ConfigError, MediaDecodeError
from omnivec.inputs import ItemProcessor
from omnivec.inputs import media_cache as mc
from omnivec.inputs.media_cache import MediaCache, media_cache, set_media_cache_size
from omnivec.inputs.sources import MediaSource


@pytest.fixture
def cache() -> Iterator[MediaCache]:
    """The process cache, emptied, at 64 MiB; restored afterwards."""
    before = media_cache.max_bytes
    media_cache.clear()
    set_media_cache_size(64)
    yield media_cache
    media_cache.clear()
    media_cache.resize(before)


def _item(tmp_path: Path, media: SimpleNamespace) -> dict:
    (tmp_path / "a.png").write_bytes(media.png(Image.new("RGB", (8, 6), (200, 10, 10))))
    (tmp_path / "a.wav").write_bytes(media.wav(np.linspace(-0.5, 0.5, 8000, dtype=np.float32), 16_000))
    media.video(tmp_path / "v.mp4", 6, audio_rate=16_000)
    return {"title": "t", "image": str(tmp_path / "a.png"), "video": str(tmp_path / "v.mp4"),
            "audio": str(tmp_path / "a.wav")}  # fmt: skip


def test_a_file_decodes_once_and_equals_the_uncached_result(
    cache: MediaCache, tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor
) -> None:
    item = _item(tmp_path, media)
    first = processor.decode(item, 0)
    assert cache.stats()["misses"] == 3 and cache.stats()["hits"] == 0  # image, video, audio
    again = ItemProcessor(image_size=32, num_frames=8, sampling_rate=16_000).decode(
        item, 1
    )  # another processor
    assert cache.stats()["hits"] == 3
    set_media_cache_size(0)
    plain = processor.decode(item, 2)
    assert len(cache) == 0
    for out in (first, again):
        assert out.modalities == plain.modalities and out.num_images == plain.num_images
        assert all(np.array_equal(a, b) for a, b in zip(out.frames, plain.frames, strict=True))
        assert np.array_equal(out.audio, plain.audio)
    assert not first.frames[0].flags.writeable and not first.audio.flags.writeable
    with pytest.raises(ValueError):
        first.audio[0] = 1.0  # cached arrays are shared: read-only


def test_changed_files_and_other_settings_decode_again(
    cache: MediaCache, tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor
) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(media.png(Image.new("RGB", (8, 6), (200, 10, 10))))
    red = processor.decode({"image": str(path)}, 0).frames[0]
    path.write_bytes(media.png(Image.new("RGB", (8, 6), (10, 10, 200))))
    os.utime(path, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    blue = processor.decode({"image": str(path)}, 0).frames[0]
    assert red[0, 0, 0] > 150 and blue[0, 0, 2] > 150
    small = ItemProcessor(image_size=16, num_frames=8, sampling_rate=16_000).decode({"image": str(path)}, 0)
    assert small.frames[0].shape == (16, 16, 3)
    assert cache.stats()["misses"] == 3 and cache.stats()["hits"] == 0


def test_bytes_and_errors_are_never_kept(
    cache: MediaCache, tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor
) -> None:
    payload = media.png(Image.new("RGB", (4, 4)))
    processor.decode({"image": payload}, 0)
    processor.decode({"image": payload}, 0)
    assert len(cache) == 0 and cache.stats()["misses"] == 0
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    for index in (3, 4):
        with pytest.raises(MediaDecodeError, match=f"item {index}"):
            processor.decode({"image": str(bad)}, index)
    assert len(cache) == 0


def test_the_byte_bound_evicts_the_least_recently_used() -> None:
    cache = MediaCache(3 * 800)
    sources = [MediaSource(name=str(i), path=Path(__file__)) for i in range(4)]
    calls: list[int] = []

    def decode(i: int) -> np.ndarray:
        calls.append(i)
        return np.zeros(100, np.float64)  # 800 bytes

    for i in (0, 1, 2):
        cache.get_or_decode(sources[i], "k", i, lambda i=i: decode(i))
    cache.get_or_decode(sources[0], "k", 0, lambda: decode(0))  # 0 is now the most recent
    cache.get_or_decode(sources[3], "k", 3, lambda: decode(3))  # evicts 1
    assert cache.bytes == 3 * 800 and len(cache) == 3
    cache.get_or_decode(sources[1], "k", 1, lambda: decode(1))
    assert calls == [0, 1, 2, 3, 1]
    cache.resize(0)
    assert len(cache) == 0 and cache.bytes == 0
    with pytest.raises(ConfigError, match="non-negative"):
        cache.resize(-1)


def test_the_environment_sets_the_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIVEC_MEDIA_CACHE_MB", "2")
    assert mc._env_bytes() == 2 * 1024 * 1024
    monkeypatch.setenv("OMNIVEC_MEDIA_CACHE_MB", "lots")
    with pytest.raises(ConfigError, match="OMNIVEC_MEDIA_CACHE_MB"):
        mc._env_bytes()
    with pytest.raises(ConfigError, match="megabytes"):
        set_media_cache_size(-3)
