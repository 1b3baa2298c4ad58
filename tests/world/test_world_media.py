"""Media rendering: deterministic per item, on demand equal to the written files, lazy worlds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnivec.data.readers import read_items
from omnivec.world import load_manifest, make_world, materialize_media, render_item_media
from omnivec.world.media import MOOD_SPECS, MediaParams, render_audio, render_cover, render_frames


def _params(**kw: object) -> MediaParams:
    base = {"index": 5, "root": 5, "l1": 2, "l2": 9, "mood": 1, "style": 0, "motion": 1, "has_image": True,
            "has_video": True, "has_audio": True, "has_speech": True, "seconds": 3.0, "base_seconds": 3.0}  # fmt: skip
    base.update(kw)
    return MediaParams(**base)  # type: ignore[arg-type]


def test_on_demand_rendering_equals_the_files(tiny_world: Path) -> None:
    items = read_items(tiny_world / "items.parquet").to_pylist()
    for row in items[:12] + [r for r in items if r["dup_group"] != r["item_id"]][:5]:
        media = render_item_media(tiny_world, row["item_id"])
        for kind in ("image", "video", "audio"):
            if row[kind] is None:
                assert kind not in media
            else:
                assert media[kind] == (tiny_world / row[kind]).read_bytes(), (row["item_id"], kind)
    with pytest.raises(KeyError, match="i9999999"):
        render_item_media(tiny_world, "i9999999")


def test_reupload_is_close_but_not_identical(tiny_world: Path) -> None:
    from PIL import Image

    items = read_items(tiny_world / "items.parquet").to_pylist()
    by_id = {r["item_id"]: r for r in items}
    dup = next(r for r in items if r["dup_group"] != r["item_id"] and r["image"])
    orig = by_id[dup["dup_group"]]
    a = np.asarray(Image.open(tiny_world / dup["image"]), dtype=float)
    b = np.asarray(Image.open(tiny_world / orig["image"]), dtype=float)
    other = np.asarray(Image.open(tiny_world / next(r for r in items if r["dup_group"] not in
                                                    (dup["dup_group"],) and r["image"])["image"]), dtype=float)  # fmt: skip
    assert 0 < np.abs(a - b).mean() < np.abs(a - other).mean()


def test_attributes_change_the_right_medium() -> None:
    p = _params()
    # style changes the cover, not the video; motion changes the video, not the cover
    assert not np.array_equal(render_cover(p), render_cover(_params(style=3)))
    assert np.array_equal(render_frames(p), render_frames(_params(style=3)))
    assert np.array_equal(render_cover(p), render_cover(_params(motion=3)))
    assert not np.array_equal(render_frames(p), render_frames(_params(motion=3)))
    # mood changes the audio only
    assert np.array_equal(render_cover(p), render_cover(_params(mood=2)))
    a, b = render_audio(p), render_audio(_params(mood=3))
    assert a.shape == b.shape == (48_000,) and not np.allclose(a, b)
    assert np.abs(a).max() <= 1.0 and len(MOOD_SPECS) == 4


def test_pan_moves_the_frames_sideways() -> None:
    from omnivec.world.features import _grey, _shift

    frames = render_frames(_params(motion=1))
    g = _grey(frames.astype(np.float32))
    dy, dx = zip(*(_shift(g[k], g[k + 1]) for k in range(7)), strict=True)
    assert np.median(np.abs(dx)) >= 2 and np.median(np.abs(dy)) <= 1


def test_lazy_world_renders_on_demand(tiny_world: Path, tmp_path: Path) -> None:
    out = tmp_path / "lazy"
    m = make_world(out, size="tiny", seed=0, progress=False, media="lazy")
    assert m.media == "lazy" and m.media_digest is None
    assert not (out / "media").exists()
    items = read_items(out / "items.parquet").to_pylist()
    row = next(r for r in items if r["audio"])
    assert row["audio"].startswith("media/audio/")
    assert render_item_media(out, row["item_id"])["audio"][:4] == b"RIFF"
    assert materialize_media(out, [row["item_id"]]) >= 1
    assert (out / row["audio"]).is_file()
    assert load_manifest(out).files["items.parquet"] == load_manifest(tiny_world).files["items.parquet"]
