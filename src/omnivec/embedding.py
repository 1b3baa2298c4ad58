"""Embedding a catalogue file: items (Parquet or JSONL) in, embeddings Parquet out, bad items reported.

This is the library behind ``omnivec embed``. Media paths in the items file resolve relative to the file's
folder. An item that fails (corrupt media, over a limit, empty) is skipped and listed with its row index,
id, field and reason in ``<out>.errors.json``; the good rows are written. Both files are written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.errors import DataFormatError
from omnivec.utils.io import write_json, write_parquet


@dataclass
class EmbedReport:
    out: Path
    errors_path: Path
    n_items: int
    n_ok: int
    errors: list[dict[str, Any]]


def read_item_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of an items file (``.parquet`` or ``.jsonl``) as dicts of the item keys (``item_id`` → ``id``)."""
    from omnivec.inputs.item import ITEM_KEYS

    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"items file {p} does not exist")
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(p).to_pylist()
    elif p.suffix in (".jsonl", ".json"):
        rows = []
        for n, line in enumerate(p.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataFormatError(f"{p}:{n}: not valid JSON: {exc}") from None
    else:
        raise DataFormatError(f"items file {p}: expected .parquet or .jsonl, got {p.suffix!r}")
    keys = set(ITEM_KEYS)
    out = []
    for row in rows:
        if not isinstance(row, dict):
            raise DataFormatError(f"{p}: every row must be an object, got {type(row).__name__}")
        item = {k: v for k, v in row.items() if k in keys and v is not None}
        if "item_id" in row and "id" not in item:
            item["id"] = row["item_id"]
        out.append(item)
    if rows and not any(set(r) & (keys - {"id", "sampling_rate"}) for r in rows):
        raise DataFormatError(f"{p}: no item columns found; expected some of {sorted(keys)}")
    return out


def embed_file(
    model: Any,
    items_path: str | Path,
    out_path: str | Path,
    *,
    task: str | None = None,
    side: str | None = None,
    dimensions: int | None = None,
    batch_size: int = 32,
    show_progress_bar: bool = True,
) -> EmbedReport:
    import pyarrow as pa

    items_path, out_path = Path(items_path), Path(out_path)
    rows = read_item_rows(items_path)
    processor = model.omni_input.make_processor(base_dir=items_path.parent)
    ids = [row.pop("id", i) for i, row in enumerate(rows)]
    result = model.encode_items(
        rows, task=task, side=side, dimensions=dimensions, batch_size=batch_size,
        show_progress_bar=show_progress_bar, processor=processor, skip_errors=True,
    )  # fmt: skip
    emb = np.asarray(result.embeddings, dtype=np.float32)
    dim = emb.shape[1] if emb.ndim == 2 else 0
    table = pa.table(
        {
            "item_id": pa.array([str(ids[i]) for i in result.indices], pa.string()),
            "row": pa.array(result.indices, pa.int64()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1), pa.float32()), dim),
        }
    )
    write_parquet(out_path, table)
    errors = [
        {"row": e.index, "item_id": str(ids[e.index]) if e.index is not None else None, "field": e.field,
         "reason": e.reason, "message": str(e)}
        for e in result.errors
    ]  # fmt: skip
    errors_path = out_path.with_name(out_path.stem + ".errors.json")
    write_json(errors_path, {"items": len(rows), "embedded": len(result.indices), "skipped": errors})
    return EmbedReport(out_path, errors_path, len(rows), len(result.indices), errors)
