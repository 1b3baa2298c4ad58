"""The quickstart main job: world → SAIL training (+ CRE) → baselines → evaluation → index → report.

Every step is cached in the output folder: a re-run skips finished trainings (the stage runner resumes a killed
one) and re-evaluates, so the second run is quick. ``results.json`` holds
``{"models": {NAME: {TASK: {METRIC: value}}}, "meta": {...}}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Profile:
    """Sizes of one quickstart flavour."""

    name: str
    world_size: str
    recipe: str
    baseline_steps: int
    baseline_batch: int
    eval_batch: int = 32
    index_kind: str = "hnsw"
    router_queries: int = 400  # labelled training queries of each kind for the hybrid query router


PROFILES = {
    "default": Profile("default", "small", "quickstart.yaml", baseline_steps=65, baseline_batch=16),
    "tiny": Profile(
        "tiny",
        "tiny",
        "quickstart-tiny.yaml",
        baseline_steps=10,
        baseline_batch=8,
        index_kind="flat",
        router_queries=60,
    ),
}


def recipe_path(name: str) -> Path:
    return Path(str(resources.files("omnivec.recipes").joinpath(name)))


def _step(echo: Echo, title: str) -> float:
    echo(f"\n== {title}")
    return time.perf_counter()


def ensure_world(world_dir: Path, size: str, seed: int, echo: Echo) -> None:
    from omnivec.world import load_manifest, make_world

    if (world_dir / "world.json").is_file():
        m = load_manifest(world_dir)
        if m.size == size and m.seed == seed:
            echo(f"world {size} (seed {seed}) already at {world_dir}")
            return
    t = time.perf_counter()
    make_world(world_dir, size=size, seed=seed, progress=True, overwrite=True)
    echo(f"generated the {size} world in {time.perf_counter() - t:.0f}s -> {world_dir}")


def train_sail(out: Path, world: Path, profile: Profile, seed: int, echo: Echo) -> tuple[Path, Path]:
    """Train the full recipe; returns (content-only model, final model)."""
    from omnivec.training.recipe import load_recipe
    from omnivec.training.run import train_recipe

    recipe = load_recipe(recipe_path(profile.recipe), {"data": str(world), "output_dir": str(out / "sail"),
                                                       "seed": seed})  # fmt: skip
    final = train_recipe(recipe, echo=echo)
    content = [i for i, s in enumerate(recipe.stages) if not s.name.startswith("CRE")]
    last = recipe.stages[content[-1]]
    content_dir = out / "sail" / f"stage{content[-1] + 1}-{last.name}" / "final"
    return content_dir, final


def plain_recipe(out: Path, world: Path, profile: Profile, seed: int) -> Any:
    """The "VLM-based" baseline: the same fusion model, plain InfoNCE on all sources mixed, one generic
    instruction, no per-source temperature, balancing, specialization, patterns, hard negatives, field drop,
    CoSENT, mICL or late fusion; the same number of steps as the SAIL content stages."""
    from omnivec.training.recipe import load_recipe, recipe_from_dict

    sail = load_recipe(recipe_path(profile.recipe), {"data": str(world), "output_dir": "unused"})
    steps = sum(s.steps or 0 for s in sail.stages if not s.name.startswith("CRE"))
    return recipe_from_dict({
        "name": "fusion-plain", "data": str(world), "output_dir": str(out / "fusion-plain"), "seed": seed,
        "model": {"arch": sail.model.arch, "instruction": "Represent this content."},
        "batch_size": sail.batch_size, "field_drop_prob": 0.0, "tower_lr_multiplier": sail.tower_lr_multiplier,
        "losses": {"weights": {"nce_mrl": 1.0}, "learnable_temperature": False},
        "stages": [{"name": "plain", "sources": "all", "weights": "size", "steps": steps,
                    "lr": sail.stages[0].lr, "mix": True}],
    })  # fmt: skip


def train_baselines(out: Path, world: Path, profile: Profile, seed: int, echo: Echo) -> dict[str, Any]:
    """Every baseline as an evaluation embedder (trained ones are cached in ``out``)."""
    import omnivec
    from omnivec.evaluation.baselines import (
        DualTowerEmbedder,
        MiniLMEmbedder,
        train_dual_tower,
        train_minilm_mnrl,
    )
    from omnivec.evaluation.embedders import OmniEmbedder
    from omnivec.training.data import TrainingData
    from omnivec.training.run import train_recipe

    data = TrainingData(world)
    found: dict[str, Any] = {}
    t = _step(echo, "baseline: fusion-plain (same fusion model, plain InfoNCE, sources mixed)")
    plain = train_recipe(plain_recipe(out, world, profile, seed), echo=echo)
    found["fusion-plain"] = OmniEmbedder(
        omnivec.load(plain), name="fusion-plain", batch_size=profile.eval_batch
    )
    echo(f"  {time.perf_counter() - t:.0f}s")
    t = _step(echo, "baseline: clip-dual-tower (vision tower + text tower, InfoNCE, vectors averaged)")
    clip_dir = out / "clip-dual-tower"
    if (clip_dir / "dual_tower.json").is_file():
        found["clip-dual-tower"] = DualTowerEmbedder.load(clip_dir)
    else:
        found["clip-dual-tower"] = train_dual_tower(data, clip_dir, steps=profile.baseline_steps,
                                                    batch_size=profile.baseline_batch, seed=seed, progress=True)  # fmt: skip
    echo(f"  {time.perf_counter() - t:.0f}s")
    found["minilm-zero-shot"] = MiniLMEmbedder.pretrained("minilm-zero-shot")
    t = _step(echo, "baseline: minilm-mnrl (text only, MultipleNegativesRankingLoss)")
    mnrl_dir = out / "minilm-mnrl"
    if (mnrl_dir / "modules.json").is_file():
        from sentence_transformers import SentenceTransformer

        found["minilm-mnrl"] = MiniLMEmbedder(SentenceTransformer(str(mnrl_dir), device="cpu"), "minilm-mnrl")
    else:
        found["minilm-mnrl"] = train_minilm_mnrl(data, mnrl_dir, steps=profile.baseline_steps,
                                                 batch_size=profile.baseline_batch, seed=seed, progress=True)  # fmt: skip
    echo(f"  {time.perf_counter() - t:.0f}s")
    return found


def build_search_index(
    out: Path, world: Path, model_dir: Path, cache: Any, profile: Profile, echo: Echo, router: Any = None
) -> list[str]:
    """Index the world's items (the SAIL vectors the evaluation already computed, plus BM25 over their text,
    plus the query router) and run a few example searches in each mode."""
    import numpy as np

    import omnivec
    from omnivec.index import build_index, open_index, search
    from omnivec.training.data import read_table

    rows = read_table(world / "items.parquet").to_pylist()
    ids = [str(r["item_id"]) for r in rows]
    vectors = cache.items(ids, "q2i", "target")
    ok = np.any(vectors != 0, axis=1)  # items the model could not embed are left out (counted in the eval)
    keep = ("item_id", "title", "ocr", "asr", "tags", "nickname", "image")
    fields = [{k: r.get(k) for k in keep} for r, good in zip(rows, ok, strict=True) if good]
    info = build_index(vectors[ok], [i for i, good in zip(ids, ok, strict=True) if good], out / "index",
                       kind=profile.index_kind, items=fields, model=str(model_dir), task="q2i",
                       items_source=str(world / "items.parquet"), lexical=True)  # fmt: skip
    echo(
        f"index: {info.size} items, {profile.index_kind} + BM25, recall@10 vs exact = {info.recall_at_10:.3f}"
    )
    if router is not None:
        router.save(out / "index")
    index = open_index(out / "index")
    model = omnivec.load(model_dir)
    queries = [r["query_text"] for r in read_table(world / "tasks" / "search-q2i.parquet").to_pylist()[:2]]
    entity = world / "tasks" / "code-q2i.parquet"
    if entity.is_file():
        queries += [r["query_text"] for r in read_table(entity).to_pylist()[:1]]
    lines = []
    for q in queries:
        for mode in ("dense", "lexical", "hybrid"):
            hits = search(model, index, {"text": q}, k=3, mode=mode)
            lines.append(f"  {mode} search {q!r}:")
            lines += [f"    {h.score:.3f}  {h.id}  {h.fields.get('title')}" for h in hits]
    for line in lines:
        echo(line)
    return lines


def run_quickstart(out: Path, *, profile: str = "default", seed: int = 0, ablate: bool = False,
                   echo: Echo = print) -> dict[str, Any]:  # fmt: skip
    """The whole job; returns the results dict also written to ``out/results.json``."""
    import omnivec
    from omnivec.evaluation.cache import EmbeddingCache
    from omnivec.evaluation.dataset import open_data
    from omnivec.evaluation.embedders import OmniEmbedder
    from omnivec.evaluation.report import write_report
    from omnivec.evaluation.tasks import evaluate
    from omnivec.quickstart.tables import format_tables

    prof = PROFILES[profile]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    world = out / "world"
    _step(echo, f"world ({prof.world_size})")
    ensure_world(world, prof.world_size, seed, echo)
    t = _step(echo, "SAIL recipe: content stages I-III, then CRE")
    content_dir, sail_dir = train_sail(out, world, prof, seed, echo)
    echo(f"  {time.perf_counter() - t:.0f}s")
    embedders: dict[str, Any] = {
        "sail": OmniEmbedder(omnivec.load(sail_dir), name="sail", batch_size=prof.eval_batch),
    }
    if content_dir.resolve() != sail_dir.resolve():
        embedders["sail-content"] = OmniEmbedder(omnivec.load(content_dir), name="sail-content",
                                                 batch_size=prof.eval_batch)  # fmt: skip
    embedders.update(train_baselines(out, world, prof, seed, echo))
    models: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    data = open_data(world)
    caches: dict[str, EmbeddingCache] = {}
    per_query: dict[str, Any] = {}
    for name, emb in embedders.items():
        t = _step(echo, f"evaluate {name}")
        caches[name] = EmbeddingCache(emb, data.item, progress=True)
        res = evaluate(emb, data, seed=seed, progress=True, cache=caches[name], per_query=True)
        meta[name] = res.pop("_meta", {})
        per_query[name] = meta[name].pop("per_query", {})
        models[name] = res
        echo(f"  {time.perf_counter() - t:.0f}s")
    from omnivec.evaluation.compare import compare_models

    meta["vs_baselines"] = {
        "reference": "sail", "metric": "recall@50 (auc for pair tasks)", "interval": "paired bootstrap 95 %",
        "models": compare_models(per_query, "sail", [m for m in per_query if m != "sail"], seed=seed),
    }  # fmt: skip
    t = _step(
        echo, "hybrid retrieval: sail (dense) vs bm25 vs sail+bm25 (routed RRF) vs sail+bm25-rrf (equal)"
    )
    from omnivec.quickstart.hybrid import run_hybrid

    hybrid_models, meta["hybrid"], router = run_hybrid(
        data, embedders["sail"], caches["sail"], prof.router_queries, seed, echo
    )
    models.update(hybrid_models)
    echo(f"  {time.perf_counter() - t:.0f}s")
    if ablate:
        from omnivec.quickstart.ablation import run_ablations

        # the variants train the content stages only, so they are compared with SAIL before CRE
        reference = models.get("sail-content", models["sail"])
        meta["ablation"] = run_ablations(out, world, prof, seed, echo, full=reference)
    _step(echo, "index and example searches")
    searches = build_search_index(out, world, sail_dir, caches["sail"], prof, echo, router=router)
    results = {"models": models, "meta": {**meta, "profile": prof.name, "seed": seed,
                                          "seconds": round(time.perf_counter() - t0, 1), "searches": searches}}  # fmt: skip
    report = write_report(results, out, train_logs=[out / "sail" / "train_log.jsonl",
                                                    out / "fusion-plain" / "train_log.jsonl"],
                          title=f"omnivec quickstart ({prof.name})")  # fmt: skip
    echo("\n" + format_tables(results))
    echo(f"\nresults -> {out / 'results.json'}\nreport  -> {report}\ntotal {time.perf_counter() - t0:.0f}s")
    return results
