"""How much of seq→item's head is item popularity? Sequence-task recall with a popularity prior, per model.

    .venv/bin/python benchmarks/seq_head.py runs/quickstart/world \\
        sail-content=runs/quickstart/sail/stage3-III-hard/final sail=runs/quickstart/sail/model \\
        [--betas 0 0.01 0.02 0.04 0.08] [--user-vector centred] [--tasks seq2item-future seq2item]

For every sequence task and model it ranks the corpus by ``cos(user vector, item) + β · log(1 + plays)``, where
``plays`` counts the item's rows in the world's ``logs/behaviour.parquet``: the popularity a recommender knows from
its logs and no content embedding is trained to carry. ``β = 0`` is the task's own score (the number ``omnivec
eval`` prints). It prints Recall@1/10/25/50 at each β, the correlation between an item's mean score over the
task's users and its log plays, and, with two or more models, ``model − first model`` at each β with paired
bootstrap 95 % intervals (``*``: clear of 0).

This is an analysis, not a serving feature: omnivec's retrieval ranks by the embedding alone. It answers whether
a head gap between two embeddings is about the users' topics or about which items are played most.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

KS = (1, 10, 25, 50)


def _plays(world: Path, ids: list[str]) -> np.ndarray:
    import pyarrow.parquet as pq

    path = world / "logs" / "behaviour.parquet"
    if not path.is_file():
        raise SystemExit(f"{path}: no behaviour log to count plays from")
    counts = Counter(pq.read_table(path, columns=["item_id"]).column(0).to_pylist())
    return np.log1p(np.array([counts.get(i, 0) for i in ids], dtype=np.float32))


def _recalls(scores: np.ndarray, relevant: list[np.ndarray]) -> dict[int, np.ndarray]:
    """Per-query Recall@k (hits / min(k, |relevant|)), the evaluation's definition."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, : max(KS)]
    out = {k: np.zeros(len(relevant)) for k in KS}
    for q, rel in enumerate(relevant):
        if rel.size:
            for k in KS:
                out[k][q] = np.isin(top[q, :k], rel).sum() / min(k, rel.size)
    return out


def _interval(diff: np.ndarray, rng: np.random.Generator, n_boot: int = 1000) -> tuple[float, float]:
    idx = rng.integers(0, len(diff), (n_boot, len(diff)))
    means = diff[idx].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("world", type=Path, help="a world folder (its tasks and logs)")
    parser.add_argument("models", nargs="+", help="NAME=MODEL_DIR, the first is the reference")
    parser.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.01, 0.02, 0.04, 0.08])
    parser.add_argument("--user-vector", default="centred", choices=["mean", "centred"])
    parser.add_argument("--tasks", nargs="+", default=["seq2item-future", "seq2item", "seq2item-filtered"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--history-model",
        help="embed every model's histories with this model (NAME of the list), e.g. the content model a "
        "'history: frozen' CRE recipe trained against; default: each model embeds its own histories",
    )
    args = parser.parse_args()

    import omnivec
    from omnivec.evaluation.cache import EmbeddingCache
    from omnivec.evaluation.dataset import open_data
    from omnivec.evaluation.embedders import OmniEmbedder, user_vector_fn
    from omnivec.evaluation.tasks import SEQ_ITEM_PROMPT
    from omnivec.recsys.sequence_io import load_sequence_encoder

    data = open_data(args.world)
    models = dict(m.split("=", 1) for m in args.models)
    if args.history_model and args.history_model not in models:
        raise SystemExit(f"--history-model {args.history_model!r} is not one of the models {list(models)}")
    caches = {}
    for name, path in models.items():
        embedder = OmniEmbedder(omnivec.load(path), name=name, batch_size=args.batch_size,
                                sequence_encoder=load_sequence_encoder(path))  # fmt: skip
        caches[name] = (embedder, EmbeddingCache(embedder, data.item, progress=True))
    for task in args.tasks:
        cfg = next((t for t in data.tasks if t.name == task), None)
        if cfg is None or cfg.query != "items":
            raise SystemExit(f"{task!r} is not a sequence task of {args.world}")
        rows = data.rows(cfg)
        ids = data.corpus_ids(cfg)
        pos = {i: n for n, i in enumerate(ids)}
        relevant = [np.array([pos[i] for i in r["relevant"] if i in pos], dtype=np.int64) for r in rows]
        plays = _plays(args.world, ids)
        print(f"\n{task}: {len(rows)} users, {len(ids)} candidates, user vector {args.user_vector}")
        per: dict[str, dict[float, dict[int, np.ndarray]]] = {}
        for name, (embedder, cache) in caches.items():
            corpus = cache.items(ids, *SEQ_ITEM_PROMPT)
            hist_ids = [r["query_items"] or [] for r in rows]
            hist_cache = caches[args.history_model][1] if args.history_model else cache
            flat = hist_cache.items([i for h in hist_ids for i in h], *SEQ_ITEM_PROMPT)
            cuts = np.cumsum([0] + [len(h) for h in hist_ids])
            histories = [list(flat[cuts[q] : cuts[q + 1]]) for q in range(len(rows))]
            users = np.asarray(
                user_vector_fn(embedder, args.user_vector)(histories, corpus), dtype=np.float32
            )
            scores = users @ corpus.T
            corr = np.corrcoef(scores.mean(0), plays)[0, 1]
            print(f"  {name}: corr(mean score over users, log plays) {corr:+.3f}")
            per[name] = {b: _recalls(scores + b * plays[None, :], relevant) for b in args.betas}
            for b in args.betas:
                print(f"    β={b:<5} " + "  ".join(f"R@{k} {100 * per[name][b][k].mean():6.2f}" for k in KS))
        ref = next(iter(models))
        for name in list(models)[1:]:
            print(f"  {name} − {ref} (paired 95 %):")
            for b in args.betas:
                cells = []
                for k in KS:
                    diff = per[name][b][k] - per[ref][b][k]
                    low, high = _interval(diff, np.random.default_rng(0))
                    star = "*" if low > 0 or high < 0 else " "
                    cells.append(
                        f"R@{k} {100 * diff.mean():+5.2f} [{100 * low:+5.2f}, {100 * high:+5.2f}]{star}"
                    )
                print(f"    β={b:<5} " + "  ".join(cells))


if __name__ == "__main__":
    main()
