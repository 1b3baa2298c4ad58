from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def write_folder(
    root: Path,
    items: list[dict],
    plays: list[tuple[str, str, int, bool, bool, float]],
    impressions: list[tuple[str, str, int, bool]] | None = None,
) -> Path:
    """A minimal data folder: items.parquet and logs/behaviour.parquet (user, item, ts, liked, finished, ratio)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "logs").mkdir(exist_ok=True)
    cols = ("item_id", "title", "split", "dup_group", "author_id")
    pq.write_table(
        pa.table({c: pa.array([it.get(c) for it in items], pa.string()) for c in cols}),
        root / "items.parquet",
    )
    u, i, ts, liked, fin, ratio = zip(*plays, strict=True)
    pq.write_table(
        pa.table({
            "user_id": pa.array(u, pa.string()),
            "item_id": pa.array(i, pa.string()),
            "ts": pa.array(ts, pa.int64()),
            "liked": pa.array(liked, pa.bool_()),
            "finished": pa.array(fin, pa.bool_()),
            "watch_ratio": pa.array(ratio, pa.float32()),
        }),
        root / "logs" / "behaviour.parquet",
    )  # fmt: skip
    if impressions:
        u, i, ts, c = zip(*impressions, strict=True)
        pq.write_table(
            pa.table(
                {"user_id": list(u), "item_id": list(i), "ts": pa.array(ts, pa.int64()), "clicked": list(c)}
            ),
            root / "logs" / "impressions.parquet",
        )
    return root


@pytest.fixture
def handmade(tmp_path: Path) -> Path:
    """One user, 8 items; labels chosen so each perspective's filter has a known outcome.

    Plays of u1 (oldest first): a {c,l,f,lw}=4, b {c,l}=2, x (test split) {c,l,f,lw}, d {c,lw}=2,
    e {c,l,f,lw} with e's re-upload t2 in the same dup group, c {c,l,f,lw}=4, then target t {c,l,f,lw}.
    Titles: a, c and t share the rare word "pottery"; others do not.
    """
    items = [
        {
            "item_id": "a",
            "title": "pottery wheel basics",
            "split": "train",
            "dup_group": "a",
            "author_id": "A",
        },
        {"item_id": "b", "title": "football skills", "split": "train", "dup_group": "b", "author_id": "B"},
        {"item_id": "x", "title": "pottery glaze", "split": "test", "dup_group": "x", "author_id": "A"},
        {"item_id": "d", "title": "street food", "split": "train", "dup_group": "d", "author_id": "C"},
        {"item_id": "e", "title": "chess openings", "split": "train", "dup_group": "t", "author_id": "D"},
        {
            "item_id": "c",
            "title": "pottery kiln firing",
            "split": "train",
            "dup_group": "c",
            "author_id": "A",
        },
        {
            "item_id": "t",
            "title": "pottery vase throwing",
            "split": "train",
            "dup_group": "t",
            "author_id": "A",
        },
        {"item_id": "z", "title": "pottery late", "split": "train", "dup_group": "z", "author_id": "A"},
    ]
    plays = [
        ("u1", "a", 10, True, True, 1.0),
        ("u1", "b", 20, True, False, 0.3),
        ("u1", "x", 30, True, True, 1.0),
        ("u1", "d", 40, False, False, 0.9),
        ("u1", "e", 50, True, True, 1.0),
        ("u1", "c", 60, True, True, 1.0),
        ("u1", "t", 70, True, True, 1.0),
        ("u1", "z", 999, True, True, 1.0),  # after the cutoff used in tests
    ]
    return write_folder(tmp_path / "data", items, plays)
