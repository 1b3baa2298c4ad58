"""Readers of the dataset format: Parquet, JSONL, Hugging Face datasets; clear errors naming file and column."""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from omnivec.data.readers import (
    check_media,
    load_config,
    media_bytes,
    read_items,
    read_source,
    read_table,
    read_task,
)
from omnivec.data.schema import ITEMS, SourceConfig, TaskConfig
from omnivec.errors import DataFormatError, MediaDecodeError

ITEMS_ROWS = [
    {"item_id": "a", "title": "golden retriever at the beach", "tags": "dogs,beach", "image": "a.png"},
    {"item_id": "b", "title": None, "asr": "hello from tokyo", "audio": "b.wav", "upload_ts": 5},
    {"item_id": "c", "title": "piano cover", "extra": 1.5},
]
PAIRS = [
    {"query_item": "a", "target_item": "b", "score": 0.8},
    {"query_text": "dogs", "target_item": "a", "score": 0.2},
]


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _wav(seconds: float = 0.5) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(int(16000 * seconds), dtype="<i2").tobytes())
    return buf.getvalue()


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_parquet_jsonl_and_lists_read_the_same(tmp_path: Path) -> None:
    pq.write_table(read_items(ITEMS_ROWS), tmp_path / "items.parquet")
    a = read_items(tmp_path / "items.parquet")
    b = read_items(_jsonl(tmp_path / "items.jsonl", ITEMS_ROWS))
    c = read_items(ITEMS_ROWS)
    for t in (a, b, c):
        assert t.column("item_id").to_pylist() == ["a", "b", "c"]
        assert t.schema.field("upload_ts").type == pa.int64()
        assert t.column("extra").to_pylist() == [None, None, 1.5]  # extra columns are kept
    assert a.column("title").to_pylist() == b.column("title").to_pylist()


def test_hugging_face_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(ITEMS_ROWS)
    assert read_items(ds).column("item_id").to_pylist() == ["a", "b", "c"]
    assert read_items(ds.select([2, 0])).column("item_id").to_pylist() == ["c", "a"]  # respects indices
    ds.save_to_disk(str(tmp_path / "hf"))
    assert read_items(tmp_path / "hf").num_rows == 3
    with pytest.raises(DataFormatError, match="DatasetDict"):
        read_items(datasets.DatasetDict({"train": ds}))
    # an HF Image feature ({bytes, path} struct) becomes inline bytes
    img = datasets.Dataset.from_dict({"item_id": ["x"], "image": [Image.open(io.BytesIO(_png()))]})
    img = img.cast_column("image", datasets.Image())
    table = read_items(img)
    assert table.schema.field("image").type == pa.binary()
    assert check_media(table, tmp_path) == []


def test_missing_columns_name_file_and_column(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "items.jsonl", [{"title": "x"}])
    with pytest.raises(DataFormatError, match=r"items\.jsonl: missing required column 'item_id'"):
        read_items(path)
    src = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({"target_item": ["a"]}), src)
    with pytest.raises(DataFormatError, match=r"pairs\.parquet: needs one of the columns \['query_item'"):
        read_source(src)
    task = _jsonl(tmp_path / "task.jsonl", [{"query_item": "a"}])
    with pytest.raises(DataFormatError, match=r"task\.jsonl: missing required column 'query_id'"):
        read_task(task)
    for kind, cols in (
        ("behaviour", {"user_id": ["u"], "ts": [1]}),
        ("impressions", {"user_id": ["u"], "item_id": ["a"], "ts": [1]}),
    ):
        pq.write_table(pa.table(cols), tmp_path / f"{kind}.parquet")
        with pytest.raises(DataFormatError, match=rf"{kind}\.parquet: missing required column"):
            read_table(tmp_path / f"{kind}.parquet", kind)


def test_bad_values_are_reported(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"column 'score' should be float"):
        read_source([{"query_item": "a", "target_item": "b", "score": "high"}], name="s.jsonl")
    with pytest.raises(DataFormatError, match=r"row 1 fills none of the columns \['query_item'\]"):
        read_source([{"query_item": "a", "target_item": "b"}, {"query_item": None, "target_item": "b"}])
    with pytest.raises(DataFormatError, match=r"column 'item_id' has 1 null values \(first at row 1\)"):
        read_items([{"item_id": "a"}, {"item_id": None}])
    with pytest.raises(DataFormatError, match=r"'item_id' is not unique \(e\.g\. 'a'\)"):
        read_items([{"item_id": "a"}, {"item_id": "a"}])
    with pytest.raises(DataFormatError, match="should hold media paths"):
        read_items([{"item_id": "a", "image": 3}])
    with pytest.raises(DataFormatError, match="no such file"):
        read_items(tmp_path / "nope.parquet")
    (tmp_path / "x.csv").write_text("item_id\na\n")
    with pytest.raises(DataFormatError, match="unknown file type"):
        read_items(tmp_path / "x.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataFormatError, match=r"bad\.parquet: could not be read"):
        read_items(tmp_path / "bad.parquet")


def test_sidecar_configs_and_config_errors(tmp_path: Path) -> None:
    pq.write_table(read_source(PAIRS)[0], tmp_path / "copair.parquet")
    cfg = SourceConfig(name="copair", task="i2i", file="copair.parquet", query="item", target="item",
                       patterns=[("omni", "omni")], graded=True)  # fmt: skip
    (tmp_path / "copair.json").write_text(cfg.model_dump_json())
    table, got = read_source(tmp_path / "copair.parquet")
    assert got == cfg and table.column("score").type == pa.float32()
    assert table.column("query_text").to_pylist() == [None, "dogs"]
    (tmp_path / "bad.json").write_text(json.dumps({"name": "t", "type": "nope", "file": "t.parquet"}))
    with pytest.raises(DataFormatError, match=r"bad\.json: invalid TaskConfig: type"):
        load_config(tmp_path / "bad.json", TaskConfig)
    (tmp_path / "t.yaml").write_text("name: t\ntype: q2i\nfile: t.parquet\nquery: text\nmetrics: [auc]\n")
    assert load_config(tmp_path / "t.yaml", TaskConfig).type == "q2i"
    rows = [{"query_id": "q1", "query_text": "dogs", "relevant": ["a", "b"], "cold": True}]
    table, none = read_task(rows)
    assert none is None and table.column("relevant").type == pa.list_(pa.string())


def test_media_errors_name_item_field_and_file(tmp_path: Path) -> None:
    (tmp_path / "ok.png").write_bytes(_png())
    (tmp_path / "ok.wav").write_bytes(_wav())
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    rows = [
        {"item_id": "a", "image": "ok.png", "audio": "ok.wav"},
        {"item_id": "b", "image": "broken.png"},
        {"item_id": "c", "audio": "missing.wav"},
    ]
    items = read_items(rows)
    errors = check_media(items, tmp_path)
    assert [(e.index, e.field) for e in errors] == [(1, "image"), (2, "audio")]
    assert all(isinstance(e, MediaDecodeError) for e in errors)
    assert "item 1" in str(errors[0]) and "broken.png" in str(errors[0]) and "'b'" in str(errors[0])
    assert "missing.wav" in str(errors[1]) and "'c'" in str(errors[1])
    assert media_bytes(b"raw", tmp_path) == b"raw"
    with pytest.raises(MediaDecodeError, match=r"item 4, field 'video': video file .*nope\.mp4"):
        media_bytes("nope.mp4", tmp_path, index=4, field="video")


def test_schema_lists_every_public_column() -> None:
    assert ITEMS.names[:9] == [
        "item_id",
        "title",
        "ocr",
        "asr",
        "nickname",
        "tags",
        "image",
        "video",
        "audio",
    ]
    assert ITEMS.arrow_schema(["item_id", "upload_ts"]).names == ["item_id", "upload_ts"]
