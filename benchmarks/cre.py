"""Does CRE help beyond seed noise? ``CRE − content`` on several (world seed, training seed) pairs.

    .venv/bin/python benchmarks/cre.py --pairs 2:0 3:0 [--profile default] [--out runs/cre-check]
                                       [--name cre] [--patch '{"steps": 45, "source_schedule": "smooth"}']

One quickstart run gives CRE's effect on one world with one training seed; at the quickstart's budget that
effect is of the same size as the run-to-run variation of the content model. This script measures it where the
recipe is *not* reported: for each ``WORLD:SEED`` pair it

1. generates the world (``omnivec world make``'s generator, the profile's size) once per world seed;
2. trains the recipe's content stages (every stage without a CRE source) once per pair;
3. trains the CRE stages from that content model, with ``--patch`` applied to every CRE stage (``steps``,
   ``lr``, ``min_lr_ratio``, ``source_schedule``, ``weights`` by stage name) and its ``cre`` key merged into
   the recipe's ``cre:`` block, in ``OUT/w<world>-s<seed>/<name>``;
4. evaluates both models on the recommendation tasks and content i2i (seq→item with ``--user-vector``, the
   quickstart's ``mean`` by default, and again with the other one) and prints ``CRE − content`` with paired
   bootstrap 95 % intervals; ``*`` marks an interval clear of 0.

Everything is cached in ``OUT``: a re-run with another ``--name`` re-trains only the CRE stages. Results
are written to ``OUT/<name>.json``. One pair costs about 15 CPU-minutes on the ``default`` profile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

SEQ_TASK = "seq2item-future"
TASKS = [SEQ_TASK, "id-i2i", "ctr", "copair-i2i", "content-i2i", "search-q2i"]
STAGE_KEYS = ("steps", "lr", "min_lr_ratio", "source_schedule")


def _recipe(profile: Any, world: Path, out: Path, seed: int, *, cre: bool, patch: dict[str, Any]) -> Any:
    from omnivec.quickstart.pipeline import recipe_path
    from omnivec.training.cre import is_cre_stage
    from omnivec.training.recipe import load_recipe, recipe_from_dict

    raw = load_recipe(recipe_path(profile.recipe), {"data": str(world), "output_dir": str(out), "seed": seed})
    raw = raw.model_dump(mode="json")
    if not cre:
        raw["stages"] = [s for s in raw["stages"] if not is_cre_stage(s["sources"])]
        return recipe_from_dict(raw, "content stages")
    for stage in raw["stages"]:
        if is_cre_stage(stage["sources"]):
            stage.update({k: patch[k] for k in STAGE_KEYS if k in patch})
            if stage["name"] in patch.get("weights", {}):
                stage["weights"] = patch["weights"][stage["name"]]
                stage["sources"] = list(stage["weights"])
    raw["cre"] = {**(raw["cre"] or {}), **patch.get("cre", {})}
    return recipe_from_dict(raw, f"CRE patch {patch}")


def _evaluate(model_dir: Path, world: Path, seed: int, name: str, user_vector: str) -> dict[str, Any]:
    """Per-query values of TASKS (seq2item with ``user_vector``), plus ``seq2item-future (<other>)`` under the
    other user vector, from the same cached embeddings."""
    import omnivec
    from omnivec.evaluation.cache import EmbeddingCache
    from omnivec.evaluation.dataset import open_data
    from omnivec.evaluation.embedders import OmniEmbedder
    from omnivec.evaluation.tasks import evaluate

    data = open_data(world)
    embedder = OmniEmbedder(omnivec.load(model_dir), name=name, batch_size=32)
    cache = EmbeddingCache(embedder, data.item, progress=False)
    res = evaluate(embedder, data, tasks=TASKS, seed=seed, progress=False, per_query=True, cache=cache,
                   user_vector=user_vector)  # fmt: skip
    per_query = res.pop("_meta", {}).get("per_query", {})
    other = _other(user_vector)
    res = evaluate(embedder, data, tasks=[SEQ_TASK], seed=seed, progress=False, per_query=True, cache=cache,
                   user_vector=other)  # fmt: skip
    per_query[f"{SEQ_TASK} ({other})"] = res.pop("_meta", {}).get("per_query", {})[SEQ_TASK]
    return per_query


def _other(user_vector: str) -> str:
    return "mean" if user_vector != "mean" else "centred"


def run_pair(world_seed: int, train_seed: int, args: argparse.Namespace, patch: dict[str, Any]) -> dict:
    from omnivec.evaluation.compare import compare_models
    from omnivec.quickstart.pipeline import PROFILES, ensure_world
    from omnivec.training.run import train_recipe

    profile = PROFILES[args.profile]
    world = args.out / f"world-{world_seed}"
    ensure_world(world, profile.world_size, world_seed, print)
    pair = args.out / f"w{world_seed}-s{train_seed}"
    content = _recipe(profile, world, pair / "content", train_seed, cre=False, patch={})
    content_model = train_recipe(content, progress=False, echo=lambda s: None)
    run = pair / args.name
    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    for stage in sorted((pair / "content").glob("stage*")):  # the content stages, already trained
        os.symlink(stage.resolve(), run / stage.name)
    if (pair / "content" / "balance.json").is_file():
        shutil.copy(pair / "content" / "balance.json", run / "balance.json")
    cre_model = train_recipe(_recipe(profile, world, run, train_seed, cre=True, patch=patch), progress=False,
                             echo=lambda s: print("   ", s) if "batches per source" in s else None)  # fmt: skip
    per_query = {"cre": _evaluate(cre_model, world, train_seed, args.name, args.user_vector),
                 "content": _evaluate(content_model, world, train_seed, "content", args.user_vector)}  # fmt: skip
    rows = compare_models(per_query, "cre", ["content"], seed=train_seed)["content"]
    return {task: {k: row[k] for k in ("metric", "difference", "low", "high", "queries")}
            for task, row in rows.items()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", nargs="+", default=["2:0", "3:0"], help="WORLD_SEED:TRAINING_SEED")
    parser.add_argument("--profile", default="default", choices=["default", "tiny"])
    parser.add_argument("--out", type=Path, default=Path("runs/cre-check"))
    parser.add_argument("--name", default="cre", help="folder name of this CRE variant")
    parser.add_argument("--patch", default="{}", help="JSON patch of the CRE stages and the cre block")
    parser.add_argument("--user-vector", default="mean", choices=["mean", "centred"],
                        help="seq2item user vector (the quickstart recipe's: mean); the other one is reported too")  # fmt: skip
    args = parser.parse_args()
    patch = json.loads(args.patch)
    pairs = []
    for text in args.pairs:
        world_seed, sep, train_seed = text.partition(":")
        if not sep or not world_seed.isdigit() or not train_seed.isdigit():
            parser.error(f"--pairs: {text!r} is not WORLD_SEED:TRAINING_SEED (e.g. 2:0)")
        pairs.append((int(world_seed), int(train_seed)))
    from omnivec.utils.io import write_json

    results: dict[str, Any] = {
        "patch": patch,
        "profile": args.profile,
        "user_vector": args.user_vector,
        "pairs": {},
    }
    shown = [*TASKS, f"{SEQ_TASK} ({_other(args.user_vector)})"]
    for world_seed, train_seed in pairs:
        key = f"{world_seed}:{train_seed}"
        print(f"== world {world_seed}, training seed {train_seed}", flush=True)
        results["pairs"][key] = rows = run_pair(world_seed, train_seed, args, patch)
        for task in shown:
            if task in rows:
                r = rows[task]
                clear = "*" if r["low"] > 0 or r["high"] < 0 else " "
                print(f"  {task:<24} {r['metric']:<10} {100 * r['difference']:+6.2f} "
                      f"[{100 * r['low']:+6.2f}, {100 * r['high']:+6.2f}]{clear} n={r['queries']}", flush=True)  # fmt: skip
        write_json(args.out / f"{args.name}.json", results)
    print(f"\nCRE − content ({args.name}, patch {patch}), Recall@50 / AUC points; * = interval clear of 0")
    print(f"{'world:seed':<11}" + "".join(f"{t:>25}" for t in shown))
    for key, rows in results["pairs"].items():
        cells = []
        for task in shown:
            r = rows.get(task)
            cells.append(
                f"{100 * r['difference']:+24.2f}{'*' if r['low'] > 0 or r['high'] < 0 else ' '}"
                if r
                else " " * 25
            )
        print(f"{key:<11}" + "".join(cells))


if __name__ == "__main__":
    main()
