"""Readers for the omnivec dataset format: Parquet, JSONL and Hugging Face ``datasets``.

Every reader returns a :class:`pyarrow.Table` whose known columns have the canonical types of
:mod:`omnivec.data.schema` (extra columns are kept). Problems raise :class:`~omnivec.errors.DataFormatError`
naming the file and the column; unreadable media raise :class:`~omnivec.errors.MediaDecodeError` naming the
file, the row and the field.

    items = read_items("world/items.parquet")           # or .jsonl, or a datasets.Dataset
    pairs, cfg = read_source("world/sources/copair-i2i.parquet")
    rows, task = read_task("world/tasks/search-q2i.parquet")
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq
from pydantic import BaseModel, ValidationError

from omnivec.data.schema import (
    ARROW_TYPES,
    ITEMS,
    MEDIA_FIELDS,
    SOURCE,
    TABLES,
    TASK,
    SourceConfig,
    TableSchema,
    TaskConfig,
)
from omnivec.errors import DataFormatError, MediaDecodeError

TableSource = str | Path | pa.Table | list[dict[str, Any]] | Any  # Any: a datasets.Dataset
M = TypeVar("M", bound=BaseModel)


def _label(source: Any, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, str | Path):
        return str(source)
    return f"<{type(source).__name__}>"


def _load_hf_dataset(obj: Any, label: str) -> pa.Table:
    if hasattr(obj, "keys") and not hasattr(obj, "features"):
        raise DataFormatError(
            f"{label}: a DatasetDict with splits {list(obj.keys())}; pass one split, e.g. ds['train']"
        )
    try:
        table = obj.with_format("arrow")[:]
    except Exception as exc:  # pragma: no cover - depends on the datasets version
        raise DataFormatError(f"{label}: could not read the Hugging Face dataset: {exc}") from exc
    return table if isinstance(table, pa.Table) else pa.Table.from_batches([table])


def _from_rows(rows: list[dict[str, Any]], label: str) -> pa.Table:
    """Rows as a table; the columns are the union of every row's keys (in order of first appearance)."""
    keys: dict[str, None] = {}
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataFormatError(f"{label}: row {n} is a {type(row).__name__}, expected an object")
        keys.update(dict.fromkeys(row))
    try:
        return pa.table({k: [r.get(k) for r in rows] for k in keys})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataFormatError(f"{label}: values of mixed types in one column: {exc}") from exc


def load_table(source: TableSource, name: str | None = None) -> pa.Table:
    """Load a table without validation: a Parquet file or folder, a JSONL file, a folder written by
    ``datasets.Dataset.save_to_disk``, a ``datasets.Dataset``, a ``pyarrow.Table`` or a list of dicts."""
    label = _label(source, name)
    if isinstance(source, pa.Table):
        return source
    if isinstance(source, list):
        return _from_rows(source, label)
    if not isinstance(source, str | Path):
        if hasattr(source, "with_format") or hasattr(source, "keys"):
            return _load_hf_dataset(source, label)
        raise DataFormatError(
            f"{label}: cannot read a {type(source).__name__}; expected a path, table or dataset"
        )
    path = Path(source)
    if not path.exists():
        raise DataFormatError(f"{label}: no such file or folder")
    try:
        if path.is_dir():
            if (path / "dataset_info.json").exists() or (path / "state.json").exists():
                import datasets

                return _load_hf_dataset(datasets.load_from_disk(str(path)), label)
            return pq.read_table(path)
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            return pq.read_table(path)
        if suffix in (".jsonl", ".ndjson", ".json"):
            return pajson.read_json(path)
    except DataFormatError:
        raise
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise DataFormatError(f"{label}: could not be read: {exc}") from exc
    raise DataFormatError(
        f"{label}: unknown file type {path.suffix!r}; expected .parquet, .jsonl or a dataset folder"
    )


def _media_column(col: pa.ChunkedArray, label: str, name: str) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_null(t):
        return col.cast(pa.string())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return col.cast(pa.binary())
    if pa.types.is_struct(t) and {"bytes", "path"} <= {t.field(i).name for i in range(t.num_fields)}:
        # Hugging Face Image/Audio/Video feature: {bytes, path}
        data = pc.struct_field(col, "bytes")
        if data.null_count < len(data):
            return data.cast(pa.binary())
        return pc.struct_field(col, "path").cast(pa.string())
    raise DataFormatError(f"{label}: column {name!r} should hold media paths (string) or bytes, found {t}")


def validate_table(table: pa.Table, schema: TableSchema | str, label: str = "<table>") -> pa.Table:
    """Check ``table`` against ``schema`` and cast its known columns to the canonical types."""
    schema = TABLES[schema] if isinstance(schema, str) else schema
    names = set(table.column_names)
    for col in schema.columns:
        if col.required and col.name not in names:
            raise DataFormatError(
                f"{label}: missing required column {col.name!r} ({schema.name} table; it has {sorted(names)})"
            )
    for group in schema.one_of:
        if not names & set(group):
            raise DataFormatError(
                f"{label}: needs one of the columns {list(group)} ({schema.name} table; it has {sorted(names)})"
            )
    for i, name in enumerate(table.column_names):
        spec = schema.column(name)
        if spec is None:
            continue
        col = table.column(i)
        if spec.kind == "media":
            new = _media_column(col, label, name)
        else:
            target = ARROW_TYPES[spec.kind]
            try:
                new = col if col.type == target else col.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataFormatError(
                    f"{label}: column {name!r} should be {spec.kind}, found {col.type}: {exc}"
                ) from exc
        if not spec.nullable and new.null_count:
            first = next(k for k, v in enumerate(new.is_null().to_pylist()) if v)
            raise DataFormatError(
                f"{label}: column {name!r} has {new.null_count} null values (first at row {first})"
            )
        table = table.set_column(i, name, new)
    for group in schema.one_of:  # every row must fill one column of each group
        present = [g for g in group if g in names]
        filled = pc.is_valid(table.column(present[0]))
        for g in present[1:]:
            filled = pc.or_(filled, pc.is_valid(table.column(g)))
        if not pc.all(filled).as_py() and table.num_rows:
            first = filled.to_pylist().index(False)
            raise DataFormatError(
                f"{label}: row {first} fills none of the columns {present} (one of {list(group)} is needed)"
            )
    return table


def read_table(source: TableSource, schema: TableSchema | str, *, name: str | None = None) -> pa.Table:
    """Load ``source`` (see :func:`load_table`) and validate it against ``schema``."""
    return validate_table(load_table(source, name), schema, _label(source, name))


def read_items(source: TableSource, *, name: str | None = None) -> pa.Table:
    """Read an items table; ``item_id`` must be present, non-null and unique."""
    table = read_table(source, ITEMS, name=name)
    ids = table.column("item_id")
    if pc.count_distinct(ids).as_py() != table.num_rows:
        counts = pc.value_counts(ids)
        dup = next(v["values"] for v in counts.to_pylist() if v["counts"] > 1)
        raise DataFormatError(f"{_label(source, name)}: column 'item_id' is not unique (e.g. {dup!r})")
    return table


def load_config(path: str | Path, model: type[M]) -> M:
    """Read a JSON (or YAML) config file into ``model``; errors name the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
        return model.model_validate(data)
    except (OSError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise DataFormatError(f"{path}: invalid {model.__name__}: {where}") from exc
        raise DataFormatError(f"{path}: could not be read: {exc}") from exc


def _sidecar(source: TableSource) -> Path | None:
    if not isinstance(source, str | Path):
        return None
    path = Path(source)
    for suffix in (".json", ".yaml", ".yml"):
        cand = path.with_suffix(suffix)
        if cand != path and cand.is_file():
            return cand
    return None


def read_source(
    source: TableSource, config: str | Path | SourceConfig | None = None, *, name: str | None = None
) -> tuple[pa.Table, SourceConfig | None]:
    """Read a training source and its config (given, or the ``<name>.json`` next to the file)."""
    table = read_table(source, SOURCE, name=name)
    cfg_path = config if isinstance(config, str | Path) else _sidecar(source)
    cfg = (
        config
        if isinstance(config, SourceConfig)
        else (load_config(cfg_path, SourceConfig) if cfg_path else None)
    )
    return table, cfg


def read_task(
    source: TableSource, config: str | Path | TaskConfig | None = None, *, name: str | None = None
) -> tuple[pa.Table, TaskConfig | None]:
    """Read an evaluation task and its config (given, or the ``<name>.json`` next to the file)."""
    table = read_table(source, TASK, name=name)
    cfg_path = config if isinstance(config, str | Path) else _sidecar(source)
    cfg = (
        config
        if isinstance(config, TaskConfig)
        else (load_config(cfg_path, TaskConfig) if cfg_path else None)
    )
    return table, cfg


# ---- media -----------------------------------------------------------------------------------------------
def media_bytes(
    value: str | bytes | None, root: str | Path, *, index: int | None = None, field: str | None = None
) -> bytes | None:
    """The bytes of a media cell: inline bytes as they are, a path read relative to ``root``."""
    if value is None or isinstance(value, bytes):
        return value
    path = Path(value) if Path(value).is_absolute() else Path(root) / value
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MediaDecodeError(
            f"{field or 'media'} file {str(path)!r} could not be read: {exc.strerror or exc}",
            index=index,
            field=field,
        ) from exc


def _probe_media(field: str, data: bytes) -> None:
    if field == "image":
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    elif field == "video":
        import av

        with av.open(io.BytesIO(data)) as c:
            next(c.decode(video=0))
    elif field == "audio":
        import soundfile

        soundfile.info(io.BytesIO(data))


def check_media(
    items: pa.Table, root: str | Path, fields: Iterable[str] = MEDIA_FIELDS, limit: int | None = None
) -> list[MediaDecodeError]:
    """Open and decode the media of (the first ``limit``) items; return one error per bad cell.

    Batch jobs use this to skip and report bad items instead of dying on one file.
    """
    errors: list[MediaDecodeError] = []
    n = items.num_rows if limit is None else min(limit, items.num_rows)
    ids = items.column("item_id").to_pylist()[:n] if "item_id" in items.column_names else [None] * n
    for field in fields:
        if field not in items.column_names:
            continue
        values = items.column(field).to_pylist()[:n]
        for i, value in enumerate(values):
            if value is None:
                continue
            where = value if isinstance(value, str) else f"<{len(value)} bytes>"
            try:
                data = media_bytes(value, root, index=i, field=field)
                assert data is not None
                _probe_media(field, data)
            except MediaDecodeError as exc:
                errors.append(MediaDecodeError(f"item_id {ids[i]!r}: {exc.reason}", index=i, field=field))
            except Exception as exc:
                errors.append(
                    MediaDecodeError(
                        f"item_id {ids[i]!r}: {field} {where!r} could not be decoded: {exc}",
                        index=i,
                        field=field,
                    )
                )
    return errors
