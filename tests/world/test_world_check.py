"""``check_world``: the figures show each modality missing something, audio-only information, duplicates in
in-batch negatives, and a collaborative taste that behaviour reveals and content only partly shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnivec.world import check_world, format_check_report, make_world
from omnivec.world.check import verdicts


@pytest.fixture(scope="module")
def tiny_figures(tiny_world: Path) -> dict:
    return check_world(tiny_world)


def test_probes_show_where_information_lives(tiny_figures: dict) -> None:
    p = tiny_figures["probes"]
    chance = {a: p[a]["chance"] for a in p}
    # mood: only audio
    assert p["mood"]["audio"] >= chance["mood"] + 0.35
    assert all(p["mood"][m] <= chance["mood"] + 0.15 for m in ("text", "image", "video"))
    # style: only the cover; motion: only the video; location: only text
    assert p["style"]["image"] >= 0.8 and all(
        p["style"][m] <= chance["style"] + 0.15 for m in ("text", "video", "audio")
    )
    assert p["motion"]["video"] >= 0.7 and all(
        p["motion"][m] <= chance["motion"] + 0.15 for m in ("text", "image", "audio")
    )
    assert p["location"]["text"] >= chance["location"] + 0.15
    # topic: text, image and video each carry it; fusion does at least as well as the best one
    for m in ("text", "image", "video"):
        assert p["topic_l1"][m] >= chance["topic_l1"] + 0.3
    assert p["topic_l1"]["audio"] <= chance["topic_l1"] + 0.15
    assert p["topic_l1"]["all"] >= max(p["topic_l1"][m] for m in ("text", "image", "video")) - 0.02


def test_duplicates_and_taste_figures(tiny_figures: dict) -> None:
    d = tiny_figures["duplicates"]
    assert 0.05 < d["reupload_rate"] < 0.2 and d["dup_groups"] > 0
    assert d["random_batch64_reupload_negatives"] > 0
    assert d["copair_batch64_reupload_negatives"] > 0 and d["copair_batch64_same_item_negatives"] > 0
    t = tiny_figures["taste"]
    assert t["from_behaviour"] >= t["chance"] + 0.2
    # taste follows the cover style for part of the items: content shows some of it, behaviour more
    assert t["chance"] + 0.05 <= t["from_content"] <= t["from_behaviour"] - 0.05


def test_report_and_json(tiny_figures: dict) -> None:
    text = format_check_report(tiny_figures)
    for word in ("linear probes", "mood", "near-duplicates", "collaborative taste", "verdicts"):
        assert word in text
    json.dumps(tiny_figures)  # plain JSON-able
    v = tiny_figures["verdicts"]
    assert v == verdicts(tiny_figures) and v["attribute_only_in_audio"] and v["taste_visible_in_behaviour"]


def test_verdicts_can_fail() -> None:
    flat = {"chance": 0.5, "text": 0.5, "image": 0.5, "video": 0.5, "audio": 0.5, "all": 0.3}
    fig = {
        "probes": {a: dict(flat) for a in ("topic_l1", "topic_l2", "mood", "style", "motion", "location")},
        "taste": {"chance": 0.25, "from_content": 0.2, "from_behaviour": 0.22},
        "duplicates": {"random_batch64_reupload_negatives": 0.0},
    }
    v = verdicts(fig)
    assert not any(v.values())


def test_lazy_world_is_checked_by_rendering(tmp_path: Path) -> None:
    out = tmp_path / "lazy"
    make_world(out, size="tiny", seed=2, progress=False, media="lazy")
    fig = check_world(out, max_items=120)
    assert fig["world"]["media"] == "lazy" and fig["probe_items"] == 120
    assert fig["probes"]["mood"]["audio"] > fig["probes"]["mood"]["chance"] + 0.2


@pytest.mark.slow
def test_small_world_figures(tmp_path: Path) -> None:
    """The quickstart's default world: every verdict holds (figures printed for the record)."""
    make_world(tmp_path / "small", size="small", seed=0, progress=False)
    fig = check_world(tmp_path / "small")
    print(format_check_report(fig))
    assert all(fig["verdicts"].values()), fig["verdicts"]
    p = fig["probes"]
    mean = {m: sum(p[a][m] for a in ("topic_l1", "mood", "style", "motion", "location")) / 5
            for m in ("text", "image", "video", "audio", "all")}  # fmt: skip
    assert mean["all"] >= max(mean[m] for m in ("text", "image", "video", "audio")) + 0.2
    assert fig["world"]["items"] == 3000
