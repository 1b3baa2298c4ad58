"""The generated world: layout, public format, splits, duplicates, determinism, atomic writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from omnivec.data.readers import check_media, read_items, read_source, read_table, read_task
from omnivec.errors import ConfigError, OmnivecError
from omnivec.world import load_manifest, make_world
from omnivec.world.spec import SIZES


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_and_manifest(tiny_world: Path) -> None:
    m = load_manifest(tiny_world)
    assert (m.size, m.seed, m.media) == ("tiny", 0, "files")
    for rel in m.tables.values():
        assert (tiny_world / rel).is_file(), rel
    for s in m.sources:
        assert (tiny_world / "sources" / s.file).is_file()
        assert json.loads((tiny_world / "sources" / f"{s.name}.json").read_text())["name"] == s.name
    for t in m.tasks:
        assert (tiny_world / "tasks" / t.file).is_file()
        assert any(k in t.name for k in ("i2i", "q2i", "seq2item", "ctr", "cls")), t.name
    names = {s.name for s in m.sources}
    assert {
        "copair-i2i",
        "search-i2i",
        "summary-i2i",
        "tag-i2i",
        "search-q2i",
        "score-q2i",
        "cls",
        "general",
    } <= names
    tasks = {t.name for t in m.tasks}
    assert {"content-i2i", "search-i2i", "copair-i2i", "search-q2i", "score-q2i-cls", "seq2item",
            "seq2item-filtered", "seq2item-future", "cls-l1", "ctr"} <= tasks  # fmt: skip
    assert {a["name"] for a in m.attributes} >= {"topic_l1", "mood", "style", "motion", "location", "taste"}
    # the manifest's hashes are the files' hashes
    for rel, digest in m.files.items():
        assert hashlib.sha256((tiny_world / rel).read_bytes()).hexdigest() == digest
    assert "tiny" in str(m) and "items" in str(m)
    assert not list(tiny_world.parent.glob(".tiny.tmp-*"))  # no temporary folder left behind


def test_tables_follow_the_public_format(tiny_world: Path) -> None:
    m = load_manifest(tiny_world)
    items = read_items(tiny_world / "items.parquet")
    assert items.num_rows == SIZES["tiny"].n_items == m.counts["items"]
    for kind in ("behaviour", "impressions", "search", "users"):
        read_table(tiny_world / m.tables[kind], kind)
    for s in m.sources:
        table, cfg = read_source(tiny_world / "sources" / s.file)
        assert cfg == s and table.num_rows == s.n_pairs > 0
    for t in m.tasks:
        table, cfg = read_task(tiny_world / "tasks" / t.file)
        assert cfg == t and table.num_rows == t.n_queries > 0
    titles = [t for t in items.column("title").to_pylist() if t]
    assert all(w.isascii() for w in titles) and len(set(titles)) > 100


def test_media_files_decode_with_the_promised_shapes(tiny_world: Path) -> None:
    import av
    import soundfile
    from PIL import Image

    items = read_items(tiny_world / "items.parquet")
    assert check_media(items, tiny_world) == []
    row = next(r for r in items.to_pylist() if r["image"] and r["video"] and r["audio"])
    assert Image.open(tiny_world / row["image"]).size == (64, 64)
    with av.open(str(tiny_world / row["video"])) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 8 and frames[0].shape == (64, 64, 3)
    assert (
        np.abs(np.diff(np.stack(frames).astype(float), axis=0)).mean() > 0.5
    )  # frames differ (motion, noise)
    info = soundfile.info(str(tiny_world / row["audio"]))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    durations = [soundfile.info(str(tiny_world / a)).duration for a in items.column("audio").to_pylist() if a]
    assert min(durations) >= 2.0 and max(durations) <= 12.0
    present = {
        k: np.mean([v is not None for v in items.column(k).to_pylist()]) for k in ("image", "video", "audio")
    }
    assert all(0.75 < p < 1.0 for p in present.values()), present  # some media missing, most present


def test_splits_logs_and_sources_respect_held_out_items(tiny_world: Path) -> None:
    m = load_manifest(tiny_world)
    items = read_items(tiny_world / "items.parquet").to_pydict()
    split = dict(zip(items["item_id"], items["split"], strict=True))
    assert {"train", "test", "cold"} == set(split.values())
    for kind in ("behaviour", "impressions", "search"):
        logged = set(pq.read_table(tiny_world / m.tables[kind], columns=["item_id"]).column(0).to_pylist())
        assert not any(split[i] == "cold" for i in logged), kind  # cold items have no logs
    for s in m.sources:
        t = pq.read_table(tiny_world / "sources" / s.file).to_pydict()
        refs = [r for col in ("query_item", "target_item") for r in t[col] if r is not None]
        refs += [r for row in t.get("negatives", []) for r in (row or [])]
        assert all(split[r] == "train" for r in refs), s.name
    for t in m.tasks:
        rows = pq.read_table(tiny_world / "tasks" / t.file).to_pylist()
        assert any(r["cold"] for r in rows) or t.name == "dup-i2i", t.name
        if t.type == "i2i":
            assert all(split[r["query_item"]] != "train" for r in rows)
            assert all(r["target_item"] in r["relevant"] for r in rows)


def test_near_duplicates_and_graded_scores(tiny_world: Path) -> None:
    items = read_items(tiny_world / "items.parquet").to_pydict()
    groups = np.array(items["dup_group"])
    assert 0.05 < np.mean(groups != np.array(items["item_id"])) < 0.2
    score = pq.read_table(tiny_world / "sources" / "score-q2i.parquet").to_pydict()
    s = np.array(score["score"])
    assert s.min() >= 0 and s.max() <= 1 and len(np.unique(np.round(s, 1))) >= 4
    assert set(score["label"]) == {0, 1}


def test_same_seed_same_bytes_other_seed_differs(tiny_world: Path, tmp_path: Path) -> None:
    again = make_world(tmp_path / "again", size="tiny", seed=0, progress=False, workers=1)
    a, b = _hashes(tiny_world), _hashes(tmp_path / "again")
    assert a == b and len(a) > 300
    assert again.media_digest == load_manifest(tiny_world).media_digest
    other = make_world(tmp_path / "other", size="tiny", seed=1, progress=False)
    c = _hashes(tmp_path / "other")
    assert other.media_digest != again.media_digest
    assert a["items.parquet"] != c["items.parquet"]
    assert sum(a.get(k) == v for k, v in c.items()) < 0.01 * len(c)


def test_refuses_to_overwrite_and_rejects_bad_arguments(tiny_world: Path, tmp_path: Path) -> None:
    with pytest.raises(OmnivecError, match="not empty"):
        make_world(tiny_world, size="tiny", seed=0, progress=False)
    with pytest.raises(ConfigError, match="size 'huge'"):
        make_world(tmp_path / "w", size="huge")
    with pytest.raises(ConfigError, match="media"):
        make_world(tmp_path / "w", size="tiny", media="cloud")
    assert not (tmp_path / "w").exists()


def test_overwrite_replaces_atomically(tmp_path: Path) -> None:
    out = tmp_path / "w"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    make_world(out, size="tiny", seed=3, progress=False, overwrite=True, media="lazy")
    assert not (out / "stale.txt").exists() and (out / "world.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def test_seq2item_future_scores_every_held_out_click(tiny_world: Path) -> None:
    m = load_manifest(tiny_world)
    tasks = {t.name: pq.read_table(tiny_world / "tasks" / t.file).to_pylist() for t in m.tasks}
    logs = pq.read_table(tiny_world / m.tables["behaviour"], columns=["user_id", "item_id"]).to_pydict()
    played: dict[str, set[str]] = {}
    for u, i in zip(logs["user_id"], logs["item_id"], strict=True):
        played.setdefault(u, set()).add(i)
    future = tasks["seq2item-future"]
    assert len(future) >= len(tasks["seq2item"])  # every eligible user, not a capped sample
    assert len({r["user_id"] for r in future}) == len(future)
    for r in future:
        assert len(r["query_items"]) == 10 and set(r["query_items"]) <= played[r["user_id"]]
        assert r["target_item"] in r["relevant"] and len(set(r["relevant"])) == len(r["relevant"])
    assert np.mean([len(r["relevant"]) for r in future]) > 1.5  # several held-out clicks per user
    # the single-target task's next item is among the same user's held-out clicks
    rel = {r["user_id"]: set(r["relevant"]) for r in future}
    assert all(r["target_item"] in rel[r["user_id"]] for r in tasks["seq2item"])
