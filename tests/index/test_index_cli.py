"""``omnivec index build`` prints recall@10; ``omnivec search --text`` returns ids, scores and item fields."""

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


@pytest.fixture(scope="module")
def cli():
    """The commands as ``omnivec`` registers them (``index`` group + top-level ``search``)."""
    app = typer.Typer()
    app.add_typer(index_cli.app, name="index")
    app.command("search")(index_cli.search)
    return app


def _write_embeddings(path, vectors, ids):
    flat = pa.array(np.asarray(vectors, np.float32).reshape(-1), pa.float32())
    pq.write_table(
        pa.table({"item_id": pa.array(ids, pa.string()), "row": pa.array(range(len(ids)), pa.int64()),
                  "embedding": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])}),
        path,
    )  # fmt: skip
    return path


def test_index_build_prints_recall_at_10(tmp_path, cli, clustered):
    x = clustered(1200, 32)
    emb = _write_embeddings(tmp_path / "emb.parquet", x, [f"c{i}" for i in range(len(x))])
    out = tmp_path / "idx"
    result = CliRunner().invoke(
        cli,
        [
            "index",
            "build",
            "--emb",
            str(emb),
            "--kind",
            "hnsw",
            "--dim",
            "16",
            "--out",
            str(out),
            "--compare",
        ],
    )
    assert result.exit_code == 0, result.output
    stored = json.loads((out / "index.json").read_text())
    assert "built faiss hnsw index of 1200 vectors (dim 16 of 32)" in result.output
    assert "recall@10 vs exact search (200 corpus queries, seed 0):" in result.output
    assert f"hnsw   {stored['recall_at_10']:.4f}  (built)" in result.output
    for kind in ("flat", "ivfpq"):
        assert f"{kind:6s} {stored['recall_by_kind'][kind]:.4f}" in result.output
    info = CliRunner().invoke(cli, ["index", "info", str(out)])
    assert json.loads(info.output)["recall_at_10"] == stored["recall_at_10"]
    bad = CliRunner().invoke(
        cli, ["index", "build", "--emb", str(emb), "--dim", "64", "--out", str(tmp_path / "x")]
    )
    assert isinstance(bad.exception, ConfigError) and "dim 64" in str(bad.exception)


def test_search_with_text_returns_ids_scores_and_fields(tmp_path, cli, tiny_model):
    from omnivec.embedding import embed_file

    model_dir = tmp_path / "model"
    tiny_model.save(str(model_dir))
    titles = [
        "a red bicycle",
        "beach sunset",
        "cat on a skateboard",
        "mountain hike",
        "street food",
        "jazz piano",
    ]
    rows = [{"item_id": f"v{i}", "title": t, "tags": ["demo", str(i)], "nickname": f"user{i % 2}",
             "image": f"covers/{i}.png"} for i, t in enumerate(titles)]  # fmt: skip
    (tmp_path / "items.jsonl").write_text(
        "\n".join(json.dumps({k: v for k, v in r.items() if k != "image"}) for r in rows)
    )
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "items.parquet")
    report = embed_file(
        tiny_model, tmp_path / "items.jsonl", tmp_path / "emb.parquet", show_progress_bar=False
    )
    assert report.n_ok == 6
    out = tmp_path / "idx"
    built = CliRunner().invoke(cli, [
        "index", "build", "--emb", str(tmp_path / "emb.parquet"), "--out", str(out), "--dim", "16",
        "--items", str(tmp_path / "items.parquet"), "--model", str(model_dir), "--task", "q2i",
    ])  # fmt: skip
    assert built.exit_code == 0, built.output
    assert "recall@10" in built.output and "items: 6 with fields, 0 without" in built.output
    stored = json.loads((out / "index.json").read_text())
    assert stored["model"] == str(model_dir.resolve()) and stored["task"] == "q2i"
    assert stored["items"]["source"] == str((tmp_path / "items.parquet").resolve())

    # no --model: the index remembers the one that built it
    result = CliRunner().invoke(
        cli, ["search", "--index", str(out), "--text", "red bike", "-k", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert len(hits) == 3
    query = tiny_model.encode({"text": "red bike"}, task="q2i", side="query")[:16]
    table = pq.read_table(tmp_path / "emb.parquet")
    corpus = np.array(table.column("embedding").to_pylist(), np.float32)[:, :16]
    scores = (corpus / np.linalg.norm(corpus, axis=1, keepdims=True)) @ (query / np.linalg.norm(query))
    order = np.argsort(-scores)[:3]
    assert [h["id"] for h in hits] == [table.column("item_id")[int(i)].as_py() for i in order]
    np.testing.assert_allclose([h["score"] for h in hits], scores[order], atol=1e-4)
    by_id = {r["item_id"]: r for r in rows}
    for hit in hits:
        expected = {k: v for k, v in by_id[hit["id"]].items() if k != "item_id"}
        assert hit["fields"] == expected

    text = CliRunner().invoke(cli, ["search", "--index", str(out), "--text", "red bike", "-k", "2",
                                    "--model", str(model_dir)])  # fmt: skip
    assert text.exit_code == 0, text.output
    lines = text.output.rstrip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("  1. ") and hits[0]["id"] in lines[0]
    assert f"title={by_id[hits[0]['id']]['title']!r}" in lines[0]


def test_search_needs_a_query_and_a_model(tmp_path, cli):
    x = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    emb = _write_embeddings(tmp_path / "emb.parquet", x, [str(i) for i in range(20)])
    assert (
        CliRunner().invoke(cli, ["index", "build", "--emb", str(emb), "--out", str(tmp_path / "i")]).exit_code
        == 0
    )
    none = CliRunner().invoke(cli, ["search", "--index", str(tmp_path / "i")])
    assert none.exit_code == 2 and "at least one of --text" in none.output
    nomodel = CliRunner().invoke(cli, ["search", "--index", str(tmp_path / "i"), "--text", "hi"])
    assert isinstance(nomodel.exception, ConfigError) and "records no model" in str(nomodel.exception)


def test_library_search_truncates_like_the_index(tmp_path, tiny_model):
    from omnivec.index import build_index, open_index, search

    items = [{"title": t} for t in ("red bicycle", "blue car", "green tree", "yellow sun", "black cat")]
    vectors = tiny_model.encode(items, task="q2i", side="target")
    ids = [f"t{i}" for i in range(len(items))]
    build_index(
        vectors,
        ids,
        tmp_path / "idx",
        dim=8,
        items=[{"item_id": i, **it} for i, it in zip(ids, items, strict=True)],
    )
    index = open_index(tmp_path / "idx")
    hits = search(tiny_model, index, {"text": "a bike"}, k=3)
    query = tiny_model.encode({"text": "a bike"}, task="q2i", side="query", dimensions=8)
    assert [(h.id, round(h.score, 4)) for h in hits] == [
        (h.id, round(h.score, 4)) for h in index.search(query[None, :], 3)[0]
    ]
    assert hits[0].fields["title"] in {it["title"] for it in items}
    build_index(vectors, ids, tmp_path / "odd", dim=12)
    with pytest.warns(UserWarning, match="index dim 12 is not one of the model's Matryoshka dims"):
        search(tiny_model, open_index(tmp_path / "odd"), "a bike", k=2)
    wide = np.concatenate([vectors, vectors], axis=1)
    build_index(wide, ids, tmp_path / "wide")
    with pytest.raises(ConfigError, match="the model embeds 32 components but the index was built at dim 64"):
        search(tiny_model, open_index(tmp_path / "wide"), "a bike")
