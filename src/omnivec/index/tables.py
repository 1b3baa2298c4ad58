"""The Parquet side of an index: reading embeddings and item files, writing and reading ``ids``/``items``.

``ids.parquet`` has ``item_id`` (string) and ``row`` (int64, the backend's internal id 0..N-1).
``items.parquet`` has ``item_id`` plus every item field (title, tags, nickname, media paths, ...), one row
per indexed vector in the same order, null where an item has no value (or no row in the items file).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from omnivec.errors import DataFormatError
from omnivec.utils.io import write_parquet

IDS_FILE = "ids.parquet"
ITEMS_FILE = "items.parquet"


# ------------------------------------------------------------------ embeddings
def read_embeddings(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """``(vectors [N, D] float32, item ids)`` from an embeddings Parquet (``item_id``, ``embedding``)."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"embeddings file {p} does not exist")
    try:
        table = pq.read_table(p)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataFormatError(f"embeddings file {p} is not a readable Parquet file: {exc}") from None
    for col in ("item_id", "embedding"):
        if col not in table.column_names:
            raise DataFormatError(
                f"embeddings file {p}: missing column {col!r} (has {table.column_names}); "
                "expected item_id (string) and embedding (list of float32), as written by `omnivec embed`"
            )
    emb = table.column("embedding").combine_chunks()
    if not (pa.types.is_fixed_size_list(emb.type) or pa.types.is_list(emb.type)):
        raise DataFormatError(
            f"embeddings file {p}: column 'embedding' must be a list of floats, got {emb.type}"
        )
    if emb.null_count:
        row = int(np.argmax(emb.is_null().to_numpy(zero_copy_only=False)))
        raise DataFormatError(f"embeddings file {p}: column 'embedding' is null at row {row}")
    n = len(emb)
    if pa.types.is_list(emb.type):
        lengths = np.diff(emb.offsets.to_numpy())
        if n and (lengths != lengths[0]).any():
            row = int(np.argmax(lengths != lengths[0]))
            raise DataFormatError(
                f"embeddings file {p}: column 'embedding' has {lengths[row]} components at row {row} "
                f"but {lengths[0]} at row 0"
            )
        width = int(lengths[0]) if n else 0
    else:
        width = emb.type.list_size
    if not pa.types.is_floating(emb.type.value_type) and not pa.types.is_integer(emb.type.value_type):
        raise DataFormatError(
            f"embeddings file {p}: column 'embedding' values must be numbers, got {emb.type.value_type}"
        )
    values = emb.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    vectors = values.reshape(n, width)
    ids = [str(i) for i in table.column("item_id").to_pylist()]
    if n == 0:
        raise DataFormatError(f"embeddings file {p} has no rows")
    return vectors, ids


def check_ids(ids: Sequence[str], where: str) -> list[str]:
    """``ids`` as strings; raises :class:`DataFormatError` naming the first duplicate or missing id."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for row, i in enumerate(ids):
        if i is None:
            raise DataFormatError(f"{where}: item_id is missing at row {row}")
        s = str(i)
        if s in seen:
            raise DataFormatError(f"{where}: item_id {s!r} appears twice (rows {seen[s]} and {row})")
        seen[s] = row
        out.append(s)
    return out


# ----------------------------------------------------------------------- items
def read_items_table(path: str | Path) -> pa.Table:
    """An items file (``.parquet`` or ``.jsonl``) with an ``item_id`` column, as a pyarrow table."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"items file {p} does not exist")
    if p.suffix == ".parquet":
        table = pq.read_table(p)
    elif p.suffix in (".jsonl", ".json"):
        rows = []
        for n, line in enumerate(p.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataFormatError(f"{p}:{n}: not valid JSON: {exc}") from None
        table = items_to_table(rows, str(p))
    else:
        raise DataFormatError(f"items file {p}: expected .parquet or .jsonl, got {p.suffix!r}")
    if "item_id" not in table.column_names:
        raise DataFormatError(f"items file {p}: missing column 'item_id' (has {table.column_names})")
    return table


def items_to_table(rows: Sequence[dict[str, Any]], where: str = "items") -> pa.Table:
    """Item dicts (``item_id`` or ``id`` plus fields) as a table with an ``item_id`` column first."""
    clean = []
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataFormatError(f"{where}: row {n} must be an object, got {type(row).__name__}")
        row = dict(row)
        if "item_id" not in row and "id" in row:
            row["item_id"] = row.pop("id")
        if row.get("item_id") is None:
            raise DataFormatError(f"{where}: row {n} has no 'item_id'")
        row["item_id"] = str(row["item_id"])
        clean.append(row)
    # every key of every row, in first-seen order (pa.Table.from_pylist would keep only the first row's)
    names = list(dict.fromkeys(["item_id", *(k for row in clean for k in row)]))
    columns = {}
    for name in names:
        try:
            columns[name] = pa.array(
                [row.get(name) for row in clean], pa.string() if name == "item_id" else None
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataFormatError(f"{where}: column {name!r} mixes value types across rows: {exc}") from None
    return pa.table(columns)


def align_items(
    table: pa.Table | None, ids: Sequence[str], *, fields: Sequence[str] | None = None, where: str = "items"
) -> tuple[pa.Table, dict[str, Any]]:
    """Rows of ``table`` reordered to match ``ids`` (null rows for ids it lacks) + a summary for index.json."""
    id_col = pa.array(list(ids), pa.string())
    if table is None:
        return pa.table({"item_id": id_col}), {"with_fields": 0, "missing": len(ids), "unused": 0}
    keep = [c for c in table.column_names if c != "item_id"]
    if fields is not None:
        absent = [f for f in fields if f not in keep]
        if absent:
            raise DataFormatError(f"{where}: field(s) {absent} not found; columns are {keep}")
        keep = list(fields)
    table_ids = [str(i) if i is not None else None for i in table.column("item_id").to_pylist()]
    position: dict[str, int] = {}
    for row, i in enumerate(table_ids):
        if i is None:
            raise DataFormatError(f"{where}: item_id is missing at row {row}")
        if i in position:
            raise DataFormatError(f"{where}: item_id {i!r} appears twice (rows {position[i]} and {row})")
        position[i] = row
    take = pa.array([position.get(i) for i in ids], pa.int64())
    taken = table.select(keep).take(take) if keep else pa.table({})
    out = pa.table({"item_id": id_col, **{c: taken.column(c) for c in keep}})
    matched = len(ids) - take.null_count
    summary = {"with_fields": matched, "missing": len(ids) - matched, "unused": len(position) - matched}
    return out, summary


def write_ids(folder: Path, ids: Sequence[str]) -> None:
    write_parquet(
        folder / IDS_FILE,
        pa.table(
            {"item_id": pa.array(list(ids), pa.string()), "row": pa.array(np.arange(len(ids)), pa.int64())}
        ),
    )


def write_items(folder: Path, table: pa.Table) -> None:
    write_parquet(folder / ITEMS_FILE, table)


def read_ids(folder: Path) -> list[str]:
    p = Path(folder) / IDS_FILE
    if not p.is_file():
        raise DataFormatError(f"index folder {folder}: missing {IDS_FILE}")
    table = pq.read_table(p)
    if "item_id" not in table.column_names or "row" not in table.column_names:
        raise DataFormatError(f"{p}: expected columns 'item_id' and 'row', got {table.column_names}")
    rows = table.column("row").to_numpy()
    if not np.array_equal(rows, np.arange(len(rows))):
        raise DataFormatError(f"{p}: column 'row' must be 0..N-1 in order")
    return [str(i) for i in table.column("item_id").to_pylist()]


class ItemStore:
    """Lazy reader of ``items.parquet``: the fields of an id, without loading the table until asked."""

    def __init__(self, folder: Path, ids: Sequence[str]) -> None:
        self._path = Path(folder) / ITEMS_FILE
        self._ids = ids
        self._table: pa.Table | None = None
        self._rows: dict[str, int] | None = None

    def _load(self) -> tuple[pa.Table, dict[str, int]]:
        if self._table is None or self._rows is None:
            if self._path.is_file():
                table = pq.read_table(self._path)
                if table.num_rows != len(self._ids):
                    raise DataFormatError(
                        f"{self._path}: has {table.num_rows} rows but the index has {len(self._ids)}"
                    )
            else:
                table = pa.table({"item_id": pa.array(list(self._ids), pa.string())})
            self._table = table.drop_columns(["item_id"]) if "item_id" in table.column_names else table
            self._rows = {i: r for r, i in enumerate(self._ids)}
        return self._table, self._rows

    def get(self, item_id: str) -> dict[str, Any] | None:
        _, rows = self._load()
        if item_id not in rows:
            return None
        return self.get_many([item_id])[0]

    def get_many(self, item_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Fields (non-null values only) of each id; ``{}`` for an id with no fields or not indexed."""
        table, rows = self._load()
        if not item_ids:
            return []
        positions = [rows.get(i) for i in item_ids]
        if table.num_columns == 0:
            return [{} for _ in item_ids]
        taken = table.take(pa.array(positions, pa.int64())).to_pylist()
        return [{k: v for k, v in row.items() if v is not None} for row in taken]
