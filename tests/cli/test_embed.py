"""``omnivec model build`` and ``omnivec embed`` through the CLI, with a corrupt file among good ones."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from omnivec.cli.app import app


@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory, tiny_model):
    path = tmp_path_factory.mktemp("m") / "tiny"
    tiny_model.save(str(path))
    return path


def _write_items(folder):
    from PIL import Image

    media = folder / "media"
    media.mkdir()
    Image.fromarray(np.full((20, 20, 3), 200, dtype=np.uint8)).save(media / "good.png")
    (media / "corrupt.png").write_bytes(b"\x89PNG broken")
    rows = [
        {"item_id": "a", "title": "a red bicycle", "image": "media/good.png"},
        {"item_id": "b", "title": "broken cover", "image": "media/corrupt.png"},
        {"item_id": "c", "title": "text only item", "tags": "x, y"},
        {"item_id": "d", "image": "media/missing.png"},
    ]
    path = folder / "items.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_embed_writes_good_rows_and_reports_bad_ones(tmp_path, saved_tiny, tiny_model):
    items = _write_items(tmp_path)
    out = tmp_path / "emb.parquet"
    result = CliRunner().invoke(
        app, ["embed", "--model", str(saved_tiny), "--items", str(items), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "embedded 2/4" in result.output
    table = pq.read_table(out).to_pydict()
    assert table["item_id"] == ["a", "c"] and table["row"] == [0, 2]
    emb = np.array(table["embedding"], dtype=np.float32)
    expected = tiny_model.encode({"title": "text only item", "tags": "x, y"}, side="target")
    np.testing.assert_allclose(emb[1], expected, atol=1e-5)
    report = json.loads((tmp_path / "emb.errors.json").read_text())
    bad = {e["item_id"]: e for e in report["skipped"]}
    assert set(bad) == {"b", "d"}
    assert bad["b"]["field"] == "image" and bad["b"]["row"] == 1
    assert "not found" in bad["d"]["reason"]
    assert not list(tmp_path.glob(".*tmp")), "no temporary files left behind"


def test_model_build_cli(tmp_path):
    out = tmp_path / "built"
    result = CliRunner().invoke(app, ["model", "build", "--arch", "tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "modules.json").is_file() and "built 'tiny'" in result.output


def test_cli_errors_are_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "omnivec.cli.app", "model", "build", "--arch", "nope", "--out", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "unknown architecture 'nope'" in proc.stderr and "Traceback" not in proc.stderr
