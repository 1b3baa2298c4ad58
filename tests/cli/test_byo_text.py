"""Bring-your-own-data, text only: items + query→item pairs in the public format → fine-tune → embed → index
(vectors + BM25) → hybrid search, through the CLI alone (the README's "bring your own data" path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from omnivec.cli.app import app

BRANDS = ["Acme", "Zentro", "Kolibri", "Marova", "Quindle"]
NOUNS = [
    "kettle",
    "backpack",
    "headphones",
    "desk lamp",
    "water bottle",
    "rain jacket",
    "yoga mat",
    "toaster",
]


def _catalogue(root: Path) -> list[dict]:
    items = []
    for i in range(40):
        brand, noun = BRANDS[i % len(BRANDS)], NOUNS[i % len(NOUNS)]
        items.append({"item_id": f"p{i:03d}", "title": f"{brand} {noun} model {chr(65 + i % 26)}{i}",
                      "tags": f"{noun},sku-{1000 + i}"})  # fmt: skip
    (root / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    pairs = [{"query_text": f"good {it['title'].split(' model')[0].split(' ', 1)[1]}", "target_item": it["item_id"]}
             for it in items]  # fmt: skip
    (root / "sources").mkdir()
    (root / "sources" / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pairs))
    (root / "sources" / "queries.json").write_text(json.dumps({
        "name": "queries", "task": "q2i", "file": "queries.jsonl", "query": "text", "target": "item",
        "patterns": [["text", "omni"]],
    }))  # fmt: skip
    return items


def _ok(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


@pytest.mark.slow
def test_text_only_catalogue_fine_tune_index_and_hybrid_search(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _catalogue(data)
    # the packaged recipe, shortened for a test and on the tiny architecture
    recipe = yaml.safe_load((Path(__file__).parents[2] / "recipes" / "text-search.yaml").read_text())
    recipe["model"] = {"arch": "tiny"}
    recipe["batch_size"] = 8
    recipe["stages"][0]["steps"] = 3
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    _ok(["train", str(recipe_path), "--data", str(data), "--output-dir", str(out)])
    model = out / "model"
    assert (model / "modules.json").is_file()
    emb = tmp_path / "emb.parquet"
    _ok(
        [
            "embed",
            "--model",
            str(model),
            "--items",
            str(data / "items.jsonl"),
            "--out",
            str(emb),
            "--task",
            "q2i",
        ]
    )
    index = tmp_path / "idx"
    _ok(["index", "build", "--emb", str(emb), "--items", str(data / "items.jsonl"), "--out", str(index),
         "--model", str(model)])  # fmt: skip
    assert (index / "lexical").is_dir()  # BM25 built by default: the items have text
    for mode in ("lexical", "hybrid"):
        hits = json.loads(_ok(["search", "--index", str(index), "--text", "sku-1017", "--mode", mode, "-k", "3",
                               "--json"]))  # fmt: skip
        ids = [h["id"] for h in (hits["hits"] if isinstance(hits, dict) else hits)]
        assert ids[0] == "p017", (mode, ids)  # the exact product code wins, even with a barely trained model
    dense = json.loads(_ok(["search", "--index", str(index), "--text", "sku-1017", "--mode", "dense", "-k", "3",
                            "--json"]))  # fmt: skip
    assert len(dense["hits"] if isinstance(dense, dict) else dense) == 3
    # a query router learned from the search pairs and the catalogue's own names/codes
    fitted = _ok(["index", "fit-router", "--index", str(index), "--data", str(data), "--queries", "40"])
    assert "known-item" in fitted and "search-log" in fitted and (index / "router.json").is_file()
    router = json.loads((index / "router.json").read_text())
    assert router["stats"]["by_source"]["known-item"]["examples"] > 0 and 0 < router["threshold"] < 1
    assert "catalogue names (nickname) for the name_match feature" in fitted
    assert router["names"] == sorted(set(router["names"]))  # the items' nicknames, if any, tokenised
    routed = json.loads(_ok(["search", "--index", str(index), "--text", "sku-1017", "--mode", "hybrid", "-k", "3",
                             "--json"]))  # fmt: skip
    assert routed[0]["id"] == "p017"
    both = CliRunner().invoke(
        app,
        ["search", "--index", str(index), "--text", "x", "--mode", "hybrid", "--auto", "--dense-weight", "1"],
    )
    assert both.exit_code == 2 and "drop --dense-weight" in " ".join(both.output.replace("│", " ").split())
