"""``omnivec index build --lexical/--no-lexical`` and ``omnivec search --mode dense|lexical|hybrid``."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from omnivec.cli import index as index_cli
from omnivec.errors import ConfigError

ROWS = [
    {"item_id": "code", "title": "X7-200 fast charger", "tags": ["power"]},
    {"item_id": "cable", "title": "x700 charging cable"},
    {"item_id": "phone", "title": "x7 phone", "ocr": "200 apps"},
    {"item_id": "pasta", "title": "fresh pasta", "nickname": "chef anna"},
    {"item_id": "beach", "title": "sunset over the beach"},
    {"item_id": "guitar", "title": "guitar lesson"},
]


@pytest.fixture(scope="module")
def cli():
    app = typer.Typer()
    app.add_typer(index_cli.app, name="index")
    app.command("search")(index_cli.search)
    return app


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_model):
    """An embeddings Parquet (random 16-d vectors), an items file with text, and a saved tiny model."""
    base = tmp_path_factory.mktemp("hybrid-cli")
    x = np.random.default_rng(0).standard_normal((len(ROWS), 16)).astype(np.float32)
    flat = pa.array(x.reshape(-1), pa.float32())
    pq.write_table(
        pa.table({"item_id": [r["item_id"] for r in ROWS],
                  "embedding": pa.FixedSizeListArray.from_arrays(flat, 16)}),
        base / "emb.parquet",
    )  # fmt: skip
    (base / "items.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS))
    tiny_model.save(str(base / "model"))
    return base


def _build(cli, files, out, *extra):
    args = ["index", "build", "--emb", str(files / "emb.parquet"), "--items", str(files / "items.jsonl"),
            "--out", str(out), "--recall-queries", "3", *extra]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result


def _search(cli, *args):
    return CliRunner().invoke(cli, ["search", *args])


def test_build_with_lexical_by_default_and_lexical_search_without_a_model(cli, files, tmp_path):
    built = _build(cli, files, tmp_path / "idx")
    assert "lexical: BM25 over 6 items with text (fields title, ocr, nickname, tags;" in built.output
    assert json.loads((tmp_path / "idx" / "index.json").read_text())["lexical"]["size"] == 6
    # no model recorded and none given: lexical mode never loads one
    result = _search(cli, "--index", str(tmp_path / "idx"), "--text", "X7-200", "--mode", "lexical", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert hits[0]["id"] == "code" and hits[0]["fields"] == {
        "title": "X7-200 fast charger",
        "tags": ["power"],
    }
    assert hits[0]["details"]["lexical"]["rank"] == 1 and [h["id"] for h in hits] == ["code", "phone"]
    text = _search(cli, "--index", str(tmp_path / "idx"), "--text", "chef anna", "--mode", "lexical")
    assert text.exit_code == 0 and text.output.splitlines()[0].split()[2] == "pasta"


def test_dense_and_hybrid_modes_match_the_library(cli, files, tmp_path, tiny_model):
    from omnivec.index import open_index, search

    _build(cli, files, tmp_path / "idx", "--model", str(files / "model"), "--task", "q2i")
    index = open_index(tmp_path / "idx")
    query = {"text": "X7-200 charger"}
    dense = _search(cli, "--index", str(tmp_path / "idx"), "--text", query["text"], "-k", "4", "--json")
    assert dense.exit_code == 0, dense.output
    expected = search(tiny_model, index, query, 4)
    assert [h["id"] for h in json.loads(dense.output)] == [h.id for h in expected]
    assert "details" not in json.loads(dense.output)[0]  # dense is the default and looks as before

    args = ["--index", str(tmp_path / "idx"), "--text", query["text"], "-k", "4", "--mode", "hybrid"]
    hybrid = _search(cli, *args, "--json")
    assert hybrid.exit_code == 0, hybrid.output
    expected = search(tiny_model, index, query, 4, mode="hybrid")
    got = json.loads(hybrid.output)
    assert [(h["id"], h["score"]) for h in got] == [(h.id, pytest.approx(h.score)) for h in expected]
    assert "code" in [h["id"] for h in got[:2]]  # the lexical side's best

    weighted = _search(cli, *args, "--json", "--fusion", "weighted", "--dense-weight", "0.5",
                       "--lexical-weight", "2", "--candidates", "5")  # fmt: skip
    assert weighted.exit_code == 0, weighted.output
    expected = search(tiny_model, index, query, 4, mode="hybrid", fusion="weighted",
                      weights={"dense": 0.5, "lexical": 2.0}, candidates=5)  # fmt: skip
    assert [h["id"] for h in json.loads(weighted.output)] == [h.id for h in expected]
    assert json.loads(weighted.output)[0]["id"] == "code"

    shown = _search(cli, *args)
    assert shown.exit_code == 0 and "[lexical #1 " in shown.output


def test_no_lexical_and_bad_flags(cli, files, tmp_path):
    built = _build(cli, files, tmp_path / "dense", "--no-lexical")
    assert "lexical:" not in built.output and not (tmp_path / "dense" / "lexical").exists()
    idx = str(tmp_path / "dense")
    result = _search(cli, "--index", idx, "--text", "x7", "--mode", "lexical")
    assert isinstance(result.exception, ConfigError) and "--lexical" in str(result.exception)
    for args, message in [
        (["--text", "x7", "--mode", "sparse"], "--mode must be one of dense, lexical, hybrid"),
        (["--text", "x7", "--mode", "lexical", "--image", "x.png"], "--mode lexical searches text only"),
        (["--image", "x.png", "--mode", "hybrid"], "--mode hybrid needs --text"),
        (["--text", "x7", "--fusion", "rrf"], "--fusion apply to --mode hybrid only"),
    ]:
        bad = _search(cli, "--index", idx, *args)
        assert bad.exit_code == 2 and message in bad.output, (args, bad.output)
