"""Behaviour logs as arrays: the catalogue, plays with their positive-behaviour labels, impression counts.

Shared by interest mining (§3.3.5 (a)), the ID teacher and the CTR evaluation. A data folder is a world made
by ``omnivec world make`` or a user's export in the same shape (``docs/data-format.md``): ``items.parquet``
and ``logs/behaviour.parquet`` (one row per play), optionally ``logs/impressions.parquet``.

**Positive behaviours** (the paper leaves them open, §3.3.5: UNCONFIRMED; this is our definition): every play
carries the set ⊆ {click, like, finish, long-watch}, where a play is a click, ``like`` = ``liked``,
``finish`` = ``finished`` and ``long-watch`` = ``watch_ratio ≥ long_watch`` (0.8 by default). The set is
stored as a 4-bit mask (:data:`CLICK` | :data:`LIKE` | :data:`FINISH` | :data:`LONG_WATCH`); the number of
positive behaviours is its popcount and the Jaccard coefficient of two sets is
``|a ∧ b| / |a ∨ b|`` on the bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnivec.errors import DataFormatError

CLICK, LIKE, FINISH, LONG_WATCH = 1, 2, 4, 8
BEHAVIOURS: dict[str, int] = {"click": CLICK, "like": LIKE, "finish": FINISH, "long_watch": LONG_WATCH}
TEXT_FIELDS: tuple[str, ...] = ("title", "ocr", "asr", "nickname", "tags")
_POPCOUNT = np.array([bin(i).count("1") for i in range(16)], dtype=np.int64)


def n_behaviours(mask: np.ndarray | int) -> np.ndarray:
    """Number of positive behaviours in each 4-bit label mask."""
    return _POPCOUNT[np.asarray(mask, dtype=np.int64) & 15]


def label_jaccard(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Jaccard coefficient ``|a ∩ b| / |a ∪ b|`` of behaviour-label sets given as masks (0 when both empty)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    inter, union = n_behaviours(a & b), n_behaviours(a | b)
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def behaviour_labels(
    liked: np.ndarray, finished: np.ndarray, watch_ratio: np.ndarray, long_watch: float = 0.8
) -> np.ndarray:
    """The positive-behaviour mask of each play (a play is always a click)."""
    liked = np.asarray(liked, dtype=bool)
    finished = np.asarray(finished, dtype=bool)
    ratio = np.nan_to_num(np.asarray(watch_ratio, dtype=np.float64), nan=0.0)
    return (CLICK + LIKE * liked + FINISH * finished + LONG_WATCH * (ratio >= long_watch)).astype(np.int64)


def table_path(data_dir: str | Path, name: str) -> Path:
    """Where table ``name`` (items, behaviour, impressions, ...) lives: the world manifest, else defaults."""
    root = Path(data_dir)
    defaults = {
        "items": "items.parquet",
        "behaviour": "logs/behaviour.parquet",
        "impressions": "logs/impressions.parquet",
    }
    if (root / "world.json").is_file():
        from omnivec.world.manifest import load_manifest

        tables = load_manifest(root).tables
        if name in tables:
            return root / tables[name]
    return root / defaults.get(name, f"{name}.parquet")


def _read(path: Path, columns: list[str], optional: tuple[str, ...] = ()) -> pa.Table:
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    names = pq.read_schema(path).names
    missing = [c for c in columns if c not in names]
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {missing}")
    return pq.read_table(path, columns=columns + [c for c in optional if c in names])


@dataclass
class Catalog:
    """The items: ids, splits, duplicate groups, authors and text fields (for token similarity)."""

    ids: list[str]
    split: np.ndarray  # str per item ("train" when the column is absent)
    dup_group: np.ndarray  # int code per item
    author: np.ndarray  # int code per item, -1 unknown
    texts: list[str]
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {i: k for k, i in enumerate(self.ids)}

    @property
    def n(self) -> int:
        return len(self.ids)

    def codes(self, ids: list[str]) -> np.ndarray:
        """Row index of each id (-1 when unknown)."""
        return np.array([self.index.get(i, -1) for i in ids], dtype=np.int64)


def _codes(values: list) -> np.ndarray:
    seen: dict[object, int] = {}
    return np.array([-1 if v is None else seen.setdefault(v, len(seen)) for v in values], dtype=np.int64)


def load_catalog(data_dir: str | Path) -> Catalog:
    path = table_path(data_dir, "items")
    table = _read(path, ["item_id"], ("split", "dup_group", "author_id", *TEXT_FIELDS))
    ids = [str(x) for x in table.column("item_id").to_pylist()]
    n = len(ids)
    cols = table.column_names
    split = np.array(table.column("split").to_pylist() if "split" in cols else ["train"] * n, dtype=object)
    groups = table.column("dup_group").to_pylist() if "dup_group" in cols else ids
    groups = [g if g is not None else i for g, i in zip(groups, ids, strict=True)]
    author = _codes(table.column("author_id").to_pylist()) if "author_id" in cols else np.full(n, -1)
    fields = [table.column(f).to_pylist() for f in TEXT_FIELDS if f in cols]
    texts = [" ".join(str(f[k]) for f in fields if f[k]) for k in range(n)]
    return Catalog(ids, split, _codes(groups), author, texts)


@dataclass
class Plays:
    """Plays sorted by (user, ts): user code, catalogue row, time, positive-behaviour mask."""

    user_ids: list[str]
    user: np.ndarray
    item: np.ndarray
    ts: np.ndarray
    labels: np.ndarray
    unknown_items: int = 0  # plays of items missing from the catalogue (skipped, reported)

    @property
    def n(self) -> int:
        return len(self.item)

    def user_slices(self) -> list[tuple[int, int, int]]:
        """(user code, start, end) of each user's block of plays."""
        if self.n == 0:
            return []
        bounds = np.flatnonzero(np.diff(self.user)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [self.n]])
        return [(int(self.user[s]), int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def load_plays(
    data_dir: str | Path, catalog: Catalog, *, long_watch: float = 0.8, cutoff_ts: int | None = None
) -> Plays:
    """The behaviour log (plays with ``ts < cutoff_ts`` when given), sorted by user then time."""
    path = table_path(data_dir, "behaviour")
    t = _read(path, ["user_id", "item_id", "ts"], ("liked", "finished", "watch_ratio"))
    if cutoff_ts is not None:
        t = t.filter(pc.less(t.column("ts"), cutoff_ts))
    n = t.num_rows

    def col(name: str, default: object) -> np.ndarray:
        if name not in t.column_names:
            return np.full(n, default)
        return np.array([default if v is None else v for v in t.column(name).to_pylist()])

    item = catalog.codes([str(x) for x in t.column("item_id").to_pylist()])
    users = [str(x) for x in t.column("user_id").to_pylist()]
    user_ids = sorted(set(users))
    uindex = {u: k for k, u in enumerate(user_ids)}
    user = np.array([uindex[u] for u in users], dtype=np.int64)
    ts = np.asarray(t.column("ts").to_numpy(zero_copy_only=False), dtype=np.int64)
    labels = behaviour_labels(
        col("liked", False), col("finished", False), col("watch_ratio", 0.0), long_watch
    )
    known = item >= 0
    order = np.lexsort((ts[known], user[known]))
    return Plays(
        user_ids=user_ids,
        user=user[known][order],
        item=item[known][order],
        ts=ts[known][order],
        labels=labels[known][order],
        unknown_items=int((~known).sum()),
    )


@dataclass
class LogStats:
    """Counts from the logged period: plays per item / user, impressions and clicks per item / user."""

    item_plays: dict[str, int]
    user_plays: dict[str, int]
    item_impressions: dict[str, int] = field(default_factory=dict)
    item_clicks: dict[str, int] = field(default_factory=dict)
    user_impressions: dict[str, int] = field(default_factory=dict)
    user_clicks: dict[str, int] = field(default_factory=dict)


def _count(values: list[str], weights: list[bool] | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, v in enumerate(values):
        if weights is None or weights[k]:
            out[v] = out.get(v, 0) + 1
    return out


def load_log_stats(data_dir: str | Path, *, cutoff_ts: int | None = None) -> LogStats:
    """Popularity and activity counts (impressions are optional: a folder without them gives empty dicts)."""
    beh = _read(table_path(data_dir, "behaviour"), ["user_id", "item_id", "ts"])
    if cutoff_ts is not None:
        beh = beh.filter(pc.less(beh.column("ts"), cutoff_ts))
    stats = LogStats(
        item_plays=_count([str(x) for x in beh.column("item_id").to_pylist()]),
        user_plays=_count([str(x) for x in beh.column("user_id").to_pylist()]),
    )
    imp_path = table_path(data_dir, "impressions")
    if imp_path.is_file():
        imp = _read(imp_path, ["user_id", "item_id", "ts", "clicked"])
        if cutoff_ts is not None:
            imp = imp.filter(pc.less(imp.column("ts"), cutoff_ts))
        items = [str(x) for x in imp.column("item_id").to_pylist()]
        users = [str(x) for x in imp.column("user_id").to_pylist()]
        clicked = [bool(x) for x in imp.column("clicked").to_pylist()]
        stats.item_impressions, stats.item_clicks = _count(items), _count(items, clicked)
        stats.user_impressions, stats.user_clicks = _count(users), _count(users, clicked)
    return stats
