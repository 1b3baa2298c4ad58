"""Videos: uniform frame sampling, short videos, arrays and frame lists, audio tracks, bad input."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from PIL import Image

from omnivec.errors import MediaDecodeError, MediaLimitError
from omnivec.inputs import ItemProcessor, MediaLimits, uniform_indices


def test_uniform_indices() -> None:
    assert uniform_indices(40, 8) == [2, 7, 12, 17, 22, 27, 32, 37]
    assert uniform_indices(3, 8) == [0, 1, 2]
    assert uniform_indices(10, 1) == [5]
    idx = uniform_indices(1000, 7)
    assert len(set(np.diff(idx))) <= 2 and max(np.diff(idx)) - min(np.diff(idx)) <= 1


def test_sampled_frames_are_evenly_spaced(
    tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor
) -> None:
    path = media.video(tmp_path / "v.mp4", 30)
    out = processor.decode({"video": path}, 0)
    assert out.modalities == frozenset({"video"}) and out.num_images == 0
    assert len(out.frames) == 8
    assert all(f.shape == (32, 32, 3) and f.dtype == np.uint8 for f in out.frames)
    indices = [media.frame_index(f) for f in out.frames]
    assert indices == uniform_indices(30, 8)
    gaps = np.diff(indices)
    assert gaps.min() >= 3 and gaps.max() <= 4 and indices[0] <= 2 and indices[-1] >= 27


def test_short_video_gives_all_frames_without_duplicates(
    tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor
) -> None:
    out = processor.decode({"video": media.video(tmp_path / "v.mp4", 5).read_bytes()}, 0)  # from bytes
    assert [media.frame_index(f) for f in out.frames] == [0, 1, 2, 3, 4]


def test_container_without_frame_count_is_counted(
    tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor
) -> None:
    path = media.video(tmp_path / "v.raw", 21, container_format="raw")  # raw stream: no count, no duration
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0
    out = processor.decode({"video": path}, 0)
    assert [media.frame_index(f) for f in out.frames] == uniform_indices(21, 8)


def test_images_come_before_video_frames(
    tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor
) -> None:
    white = np.full((6, 6, 3), 255, np.uint8)
    out = processor.decode({"image": white, "video": media.video(tmp_path / "v.mp4", 12), "title": "t"}, 0)
    assert out.num_images == 1 and len(out.frames) == 9
    assert (out.frames[0] == 255).all()
    assert [media.frame_index(f) for f in out.frames[1:]] == uniform_indices(12, 8)
    assert out.modalities == frozenset({"text", "image", "video"})


def test_array_and_frame_list_videos(processor: ItemProcessor) -> None:
    video = np.stack([np.full((10, 12, 3), i, np.uint8) for i in range(20)])
    out = processor.decode({"video": video}, 0)
    assert [int(f[0, 0, 0]) for f in out.frames] == uniform_indices(20, 8)
    frames = [Image.fromarray(np.full((10, 12, 3), i * 10, np.uint8)) for i in range(4)]
    out = processor.decode({"video": frames}, 0)
    assert [int(f[0, 0, 0]) for f in out.frames] == [0, 10, 20, 30]
    assert out.audio is None


def test_audio_track_is_extracted(tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor) -> None:
    path = media.video(tmp_path / "av.mp4", 20, fps=10, audio_rate=22_050)  # 2 s of 440 Hz
    out = processor.decode({"video": path}, 0)
    assert out.modalities == frozenset({"video", "audio"})
    audio = out.audio
    assert audio is not None and audio.dtype == np.float32 and audio.ndim == 1
    assert 2.0 <= len(audio) / 16_000 < 2.2  # 2 s plus the AAC encoder's padding
    assert np.abs(audio).max() <= 1.0
    middle = audio[8_000:24_000]
    assert 0.3 < np.sqrt(np.mean(middle**2)) < 0.4  # a 0.5-amplitude sine has RMS 0.354
    spectrum = np.abs(np.fft.rfft(middle))
    assert abs(np.argmax(spectrum) * 16_000 / len(middle) - 440) < 5

    explicit = processor.decode({"video": path, "audio": np.zeros(800, np.float32), "sampling_rate": 8000}, 0)
    assert explicit.audio is not None and len(explicit.audio) == 1600  # the item's own audio wins
    no_track = ItemProcessor(image_size=32, num_frames=8, sampling_rate=16_000, audio_from_video=False)
    assert no_track.decode({"video": path}, 0).audio is None


def test_video_without_audio_stream_has_no_audio(
    tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor
) -> None:
    out = processor.decode({"video": media.video(tmp_path / "v.mp4", 4)}, 0)
    assert out.audio is None and "audio" not in out.modalities


def test_display_rotation_is_applied(
    tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor
) -> None:
    # ffmpeg: display rotation = degrees to rotate counter-clockwise before display; the top-left
    # marker of the stored frame must end up bottom-left.
    frame = processor.decode({"video": media.video(tmp_path / "r.mp4", 2, rotation=90)}, 0).frames[0]
    red = (frame[..., 0] > 200) & (frame[..., 1] < 60)
    rows, cols = np.nonzero(red)
    assert rows.mean() > 20 and cols.mean() < 12


def test_corrupt_and_empty_videos(processor: ItemProcessor) -> None:
    with pytest.raises(MediaDecodeError) as info:
        processor.decode({"video": b"\x00\x01garbage" * 50}, 5)
    assert (info.value.index, info.value.field) == (5, "video")
    assert "could not decode <450 bytes>" in str(info.value)
    with pytest.raises(MediaDecodeError, match="video has no frames"):
        processor.decode({"video": []}, 0)
    with pytest.raises(MediaDecodeError, match="field 'video'"):
        processor.decode({"video": np.zeros((0, 4, 4, 3), np.uint8)}, 0)


def test_frame_limit(tmp_path: Path, media: SimpleNamespace) -> None:
    proc = ItemProcessor(image_size=8, num_frames=2, sampling_rate=16_000, limits=MediaLimits(max_frames=10))
    with pytest.raises(MediaLimitError, match="max_frames=10"):
        proc.decode({"video": media.video(tmp_path / "v.mp4", 12)}, 0)
    with pytest.raises(MediaLimitError, match="max_frames=10"):  # the container does not say: counted
        proc.decode({"video": media.video(tmp_path / "v.raw", 12, container_format="raw")}, 0)
    with pytest.raises(MediaLimitError, match="max_frames=10"):
        proc.decode({"video": np.zeros((11, 2, 2), np.uint8)}, 0)


def test_playlists_cannot_open_other_files(
    tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor
) -> None:
    media.video(tmp_path / "seg.ts", 5, container_format="mpegts")
    playlist = tmp_path / "list.m3u8"
    for target in ("seg.ts", "http://127.0.0.1:9/seg.ts"):
        playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{target}\n#EXT-X-ENDLIST\n")
        with pytest.raises(MediaDecodeError, match="may not open other files or URLs"):
            processor.decode({"video": playlist}, 0)
