"""Training throughput and memory: omnivec's SAIL trainer vs the plain sentence-transformers trainer.

    .venv/bin/python benchmarks/train.py [--world DIR] [--batch 16] [--steps 6] [--arch small] [--budget-gib 4]

Same model (``small``), same data (the world's ``copair-i2i`` omni pairs), same batch, same machine, same run.
Each configuration runs in its own subprocess so its peak RSS is its own:

* ``ours``: the SAIL objective through :class:`SAILTrainer` (NCE-MRL over the Matryoshka dims, single source);
* ``ours-cached``: the same with GradCache (``mini_batch_size`` 8);
* ``st-mnrl``: :class:`SentenceTransformerTrainer` + ``MultipleNegativesRankingLoss`` on the same items.

Then the largest batch (from a doubling ladder) whose peak RSS stays within ``--budget-gib``, with and without
caching. A batch whose step exceeds ``--max-step-s`` stops the ladder (reported as "≥").
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = "copair-i2i"


def _one(mode: str, world: str, batch: int, steps: int, arch: str) -> dict:
    import torch
    from datasets import Dataset

    import omnivec
    from omnivec.training.data import TrainingData
    from omnivec.training.recipe import recipe_from_dict

    torch.manual_seed(0)
    data = TrainingData(world)
    rows = data.source(SOURCE).rows[: batch * steps]
    model = omnivec.build(arch, seed=0)
    out = tempfile.mkdtemp()
    if mode == "st-mnrl":
        from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        from omnivec.model.omni_input import Indexed

        items = [(data.store.item(r["query_item"]), data.store.item(r["target_item"])) for r in rows]

        class Collate:  # the items are dicts of media paths: pass them to the model's own preprocess
            valid_label_columns: list[str] = []  # noqa: RUF012

            def __call__(self, feats):
                batch = {}
                for col in ("anchor", "positive"):
                    f = model.preprocess([Indexed(0, items[x["i"]][0 if col == "anchor" else 1]) for x in feats],
                                         task="i2i", side="query" if col == "anchor" else "target")  # fmt: skip
                    batch.update({f"{col}_{k}": v for k, v in f.items()})
                return batch

        args = SentenceTransformerTrainingArguments(
            output_dir=out, max_steps=steps, per_device_train_batch_size=batch, learning_rate=1e-4,
            report_to=[], save_strategy="no", disable_tqdm=True, use_cpu=True, remove_unused_columns=False,
        )  # fmt: skip
        ds = Dataset.from_dict({"i": list(range(len(items)))})
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
                                             loss=MultipleNegativesRankingLoss(model), data_collator=Collate())  # fmt: skip
    else:
        from omnivec.training.run import train_stage

        recipe = recipe_from_dict({
            "name": "bench", "data": world, "output_dir": out, "batch_size": batch, "field_drop_prob": 0.0,
            "mini_batch_size": 8 if mode == "ours-cached" else None, "save_steps": 10_000, "logging_steps": 10_000,
            "stages": [{"name": "b", "sources": [SOURCE], "steps": steps, "lr": 1e-4}],
        })  # fmt: skip
        trainer = None
    if trainer is not None:  # both sides: the trainer's own train_runtime (set-up excluded)
        seconds = trainer.train().metrics["train_runtime"]
    else:
        train_stage(model, recipe, data, recipe.stages[0], 0, Path(out), progress=False)
        logs = [json.loads(line) for line in (Path(out) / "train_log.jsonl").read_text().splitlines()]
        seconds = next(r["train_runtime"] for r in logs if "train_runtime" in r)
    return {"mode": mode, "batch": batch, "pairs_per_s": batch * steps / seconds, "step_s": seconds / steps,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def _run(mode: str, world: str, batch: int, steps: int, arch: str, timeout: float) -> dict | None:
    cmd = [sys.executable, __file__, "--one", mode, "--world", world, "--batch", str(batch), "--steps", str(steps),
           "--arch", arch]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", default=None, help="a world folder (default: a tiny world made in a temp dir)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--arch", default="small")
    ap.add_argument("--budget-gib", type=float, default=4.0)
    ap.add_argument("--max-step-s", type=float, default=120.0)
    ap.add_argument("--ladder", default="16,32,64,128,256")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.world, args.batch, args.steps, args.arch)))
        return
    world = args.world
    if world is None:
        from omnivec.world import make_world

        world = str(Path(tempfile.mkdtemp()) / "world")
        make_world(world, size="small", seed=0, progress=False)
    timeout = args.max_step_s * args.steps + 180
    rows = {
        m: _run(m, world, args.batch, args.steps, args.arch, timeout)
        for m in ("ours", "ours-cached", "st-mnrl")
    }
    peer = rows["st-mnrl"]
    print(f"\n{args.arch}, {SOURCE} omni pairs, batch {args.batch}, {args.steps} steps")
    print("| trainer | pairs/s | peak RSS MiB | pairs/s ratio vs ST+MNRL | memory ratio |")
    print("|---|---:|---:|---:|---:|")
    for mode, r in rows.items():
        if r is None:
            print(f"| {mode} | failed | | | |")
            continue
        ratio = f"{r['pairs_per_s'] / peer['pairs_per_s']:.2f}" if peer else "-"
        mem = f"{r['peak_rss_mib'] / peer['peak_rss_mib']:.2f}" if peer else "-"
        print(f"| {mode} | {r['pairs_per_s']:.2f} | {r['peak_rss_mib']:.0f} | {ratio} | {mem} |")
    budget = args.budget_gib * 1024
    print(f"\nlargest batch within {args.budget_gib:g} GiB peak RSS (ladder {args.ladder}, 2 steps each)")
    print("| trainer | largest batch | its peak RSS MiB | note |")
    print("|---|---:|---:|---|")
    for mode in ("ours", "ours-cached"):
        best, note = None, ""
        for b in (int(x) for x in args.ladder.split(",")):
            r = _run(mode, world, b, 2, args.arch, args.max_step_s * 2 + 180)
            if r is None:
                note = f"stopped at {b} (time limit)"
                best = (f"≥ {best[0]}", best[1]) if best else None
                break
            if r["peak_rss_mib"] > budget:
                note = f"{b} needs {r['peak_rss_mib']:.0f} MiB"
                break
            best = (b, r["peak_rss_mib"])
        else:
            note = "whole ladder fits"
            best = (f"≥ {best[0]}", best[1]) if best else None
        print(
            f"| {mode} | {best[0] if best else '-'} | {best[1]:.0f} | {note} |"
            if best
            else f"| {mode} | - | - | {note} |"
        )


if __name__ == "__main__":
    main()
