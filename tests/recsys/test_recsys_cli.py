"""The recsys commands, registered on a local app exactly as ``omnivec.cli.app`` registers them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from omnivec.cli import recsys


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(recsys.app, name="recsys")
    app.command("sid")(recsys.sid)
    return app


def _emb_file(path: Path, ids: list[str], dim: int = 8) -> np.ndarray:
    x = np.random.default_rng(0).normal(size=(len(ids), dim)).astype(np.float32)
    pq.write_table(
        pa.table({
            "item_id": ids,
            "row": pa.array(range(len(ids)), pa.int64()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), dim),
        }),
        path,
    )  # fmt: skip
    return x


def test_sid_command(app: typer.Typer, tmp_path: Path) -> None:
    _emb_file(tmp_path / "emb.parquet", [f"i{k}" for k in range(50)])
    res = CliRunner().invoke(app, ["sid", "--emb", str(tmp_path / "emb.parquet"), "--levels", "2",
                                   "--codebook-size", "4"])  # fmt: skip
    assert res.exit_code == 0, res.output
    t = pq.read_table(tmp_path / "emb.sids.parquet")
    assert t.num_rows == 50 and t.column_names == ["item_id", "sid", "sid_str"]
    assert max(max(s) for s in t.column("sid").to_pylist()) < 4
    assert (tmp_path / "emb.sids.codebooks.npz").is_file()


def test_interests_command(app: typer.Typer, handmade: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "interests.yaml"
    cfg.write_text("min_seq_len: 1\ncutoff_ts: 500\ntoken_max_df: 1.0\nclusters: 1\ncluster_min_plays: 1\n")
    res = CliRunner().invoke(app, ["recsys", "interests", "--data", str(handmade), "--out", str(tmp_path / "o"),
                                   "--config", str(cfg), "--max-targets", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "content_single_peak" in res.output
    meta = json.loads((tmp_path / "o" / "sources" / "seq2item.json").read_text())
    assert meta["n_pairs"] == pq.read_table(tmp_path / "o" / "sources" / "seq2item.parquet").num_rows == 4
    bad = CliRunner().invoke(app, ["recsys", "interests", "--data", str(handmade), "--seq-len", "0"])
    assert bad.exit_code != 0 and "seq_len" in str(bad.exception)


def test_id_teacher_and_eval_commands(app: typer.Typer, tiny_world: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["recsys", "id-teacher", "--data", str(tiny_world), "--out",
                                   str(tmp_path / "gid.parquet"), "--epochs", "2", "--dim", "8"])  # fmt: skip
    assert res.exit_code == 0, res.output
    gid = pq.read_table(tmp_path / "gid.parquet")
    assert gid.schema.field("vector").type.list_size == 8
    ids = pq.read_table(tiny_world / "items.parquet", columns=["item_id"]).column(0).to_pylist()
    _emb_file(tmp_path / "emb.parquet", ids)
    res = CliRunner().invoke(app, ["recsys", "eval", "--data", str(tiny_world), "--emb", str(tmp_path / "emb.parquet"),
                                   "--id-table", str(tmp_path / "gid.parquet"), "--out", str(tmp_path / "m.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"id-i2i", "ctr", "ctr/cold"} <= set(metrics)
    assert "recall@50" in res.output
