"""Where media comes from: data URIs, bytes limits, paths, the media root, URLs."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from omnivec.errors import ItemError, MediaDecodeError, MediaLimitError
from omnivec.inputs import ItemProcessor, MediaLimits


def _proc(**kwargs: object) -> ItemProcessor:
    return ItemProcessor(image_size=16, num_frames=2, sampling_rate=16_000, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def png(media: SimpleNamespace) -> bytes:
    return media.png(Image.new("RGB", (8, 8), (10, 200, 30)))


def test_data_uris_are_decoded(png: bytes, media: SimpleNamespace) -> None:
    proc = _proc()
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    frame = proc.decode({"image": uri}, 0).frames[0]
    assert tuple(frame[0, 0]) == (10, 200, 30)
    wav = media.wav(np.zeros(1600, np.float32), 16_000)
    audio = proc.decode({"audio": "data:audio/wav;base64," + base64.b64encode(wav).decode()}, 0).audio
    assert audio is not None and audio.shape == (1600,)
    with pytest.raises(MediaDecodeError, match="malformed base64") as info:
        proc.decode({"image": "data:image/png;base64,@@@"}, 3)
    assert (info.value.index, info.value.field) == (3, "image")
    with pytest.raises(MediaDecodeError, match="malformed data URI"):
        proc.decode({"image": "data:image/png;base64"}, 0)


def test_bytes_limit_before_decoding(png: bytes, tmp_path: Path) -> None:
    proc = _proc(limits=MediaLimits(max_bytes=len(png) - 1))
    for value in (png, "data:image/png;base64," + base64.b64encode(png).decode()):
        with pytest.raises(MediaLimitError, match=f"more than max_bytes={len(png) - 1}"):
            proc.decode({"image": value}, 0)
    (tmp_path / "a.png").write_bytes(png)
    with pytest.raises(MediaLimitError, match="max_bytes"):
        proc.decode({"image": tmp_path / "a.png"}, 0)


def test_relative_paths_and_missing_files(png: bytes, tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(png)
    proc = _proc(base_dir=tmp_path)
    assert proc.decode({"image": "img/a.png"}, 0).frames[0].shape == (16, 16, 3)
    with pytest.raises(MediaDecodeError) as info:
        proc.decode({"title": "x", "image": "img/missing.png"}, 2)
    assert str(info.value) == "item 2, field 'image': could not decode 'img/missing.png': file not found"


def test_urls_are_never_fetched() -> None:
    proc = _proc()
    for url in ("http://example.com/a.jpg", "HTTPS://example.com/a.mp4", "file:///etc/passwd", "s3://b/k"):
        with pytest.raises(ItemError, match="URLs are not fetched") as info:
            proc.decode({"video": url}, 1)
        assert info.value.field == "video"


def test_paths_refused_in_server_mode(png: bytes, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png)
    proc = _proc(allow_paths=False)
    for value in (str(tmp_path / "a.png"), tmp_path / "a.png", "a.png"):
        with pytest.raises(ItemError, match="local paths are not allowed") as info:
            proc.decode({"image": value}, 0)
        assert info.value.field == "image"
    assert proc.decode({"image": png}, 0).frames  # bytes still work


def test_media_root_confines_paths(png: bytes, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.png").write_bytes(png)
    (tmp_path / "secret.png").write_bytes(png)
    proc = _proc(allow_paths=False, media_root=root)
    assert proc.decode({"image": "sub/ok.png"}, 0).frames  # relative to the root
    assert proc.decode({"image": root / "sub" / ".." / "sub" / "ok.png"}, 0).frames
    escapes = ["../secret.png", "sub/../../secret.png", str(tmp_path / "secret.png")]
    os.symlink(tmp_path / "secret.png", root / "link.png")
    os.symlink(tmp_path, root / "dirlink")
    escapes += ["link.png", "dirlink/secret.png"]
    for value in escapes:
        with pytest.raises(ItemError, match="outside the media root") as info:
            proc.decode({"audio": value}, 7)
        assert (info.value.index, info.value.field) == (7, "audio")
        assert not isinstance(info.value, MediaDecodeError)


def test_invalid_path_string() -> None:
    with pytest.raises(ItemError, match="field 'image'"):
        _proc().decode({"image": "a\x00b.png"}, 0)
