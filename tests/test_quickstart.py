"""The README's main job end to end, CI-sized (`omnivec quickstart --tiny`)."""

from __future__ import annotations

import json
import math

import pytest

from omnivec.quickstart import run_quickstart

NAMES = {"sail", "sail-content", "fusion-plain", "clip-dual-tower", "minilm-zero-shot", "minilm-mnrl"}
LEXICAL = {"bm25", "sail+bm25", "sail+bm25-rrf"}  # lexical and hybrid rankings: retrieval tasks only


@pytest.mark.slow
def test_quickstart_tiny_writes_results_report_and_index(tmp_path):
    lines: list[str] = []
    run_quickstart(tmp_path, profile="tiny", echo=lines.append)
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["models"]) == NAMES | LEXICAL
    for name, tasks in results["models"].items():
        kinds = {k for k in ("i2i", "q2i", "seq2item", "cls", "ctr") if any(k in t for t in tasks)}
        want = {"i2i", "q2i"} if name in LEXICAL else {"i2i", "q2i", "seq2item", "cls", "ctr"}
        assert kinds == want, (name, sorted(tasks))
        for task, metrics in tasks.items():
            for metric, value in metrics.items():
                assert isinstance(value, (int, float)) and math.isfinite(value), (name, task, metric)
    html = (tmp_path / "report.html").read_text()
    assert "<html" in html.lower() and "http://" not in html and "https://" not in html
    assert (tmp_path / "index" / "index.json").is_file() and (tmp_path / "index" / "lexical").is_dir()
    assert {"nickname-q2i", "title-q2i", "code-q2i"} <= set(results["models"]["sail+bm25"])
    assert (tmp_path / "index" / "router.json").is_file()  # the routed hybrid the table reports, served
    hybrid = results["meta"]["hybrid"]
    assert set(hybrid["router"]["by_source"]) == {"search-log", "item-pairs", "known-item"}
    for group in ("entity q2i", "other q2i", "i2i", "all tasks"):
        for row in hybrid["vs_best_side"][group].values():
            assert (
                row["best"] in ("dense", "lexical")
                and row["hybrid"][1] <= row["hybrid"][0] <= row["hybrid"][2]
            )
    vs = results["meta"]["vs_baselines"]
    assert vs["reference"] == "sail" and set(vs["models"]) == NAMES - {"sail"}
    for rows in vs["models"].values():
        assert {"content-i2i", "search-q2i", "score-q2i-cls"} <= set(rows)
        assert rows["score-q2i-cls"]["metric"] == "auc" and rows["content-i2i"]["metric"] == "recall@50"
        for row in rows.values():
            assert row["low"] <= row["difference"] <= row["high"] and row["queries"] > 0
    text = "\n".join(lines)
    assert "sail minus each model" in text
    assert "Table 2" in text and "Table 5" in text and "Hybrid retrieval" in text
    assert "Hybrid minus the better single side" in text
    assert "hybrid search '" in text and "lexical search '" in text
