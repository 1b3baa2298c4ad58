"""Index kinds side by side: build time, recall@10 against exact search, and query throughput.

    .venv/bin/python benchmarks/index.py [--n 50000] [--d 128] [--dims 64,128] [--queries 1000] [--milvus]

Synthetic clustered vectors (low-dimensional blobs, like real embeddings) are indexed with every FAISS kind
(and Milvus via milvus-lite with ``--milvus``) at each Matryoshka dim. Recall@10 is measured the way
``omnivec index build`` measures it (corpus vectors as queries, seeded); QPS is for held-out queries searched
in one batch, with the ratio to FAISS flat at the same dim. Numbers come from this run on this machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def clustered(n: int, d: int, *, clusters: int = 50, latent: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d))
    label = rng.integers(0, clusters, n)
    basis = rng.standard_normal((clusters, latent, d)) / np.sqrt(latent)
    z = rng.standard_normal((n, latent)) * 0.5
    x = centres[label] + np.einsum("nl,nld->nd", z, basis[label]) + 0.05 * rng.standard_normal((n, d))
    return x.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--dims", default="64,128")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--milvus", action="store_true", help="also benchmark Milvus (milvus-lite)")
    args = parser.parse_args()

    from omnivec.index import build_index, open_index

    data = clustered(args.n + args.queries, args.d)
    corpus, held_out = data[: args.n], data[args.n :]
    ids = [f"v{i}" for i in range(args.n)]
    configs = [
        ("faiss", "flat", {}),
        ("faiss", "hnsw", {}),
        ("faiss", "ivfpq", {}),
        ("faiss", "ivfpq", {"refine": 4}),
    ]
    if args.milvus:
        configs += [("milvus", "flat", {}), ("milvus", "hnsw", {})]
    print(f"N={args.n} D={args.d} held-out queries={args.queries}")
    print(
        f"{'backend':8s} {'kind':12s} {'dim':>4s} {'build s':>8s} {'recall@10':>9s} {'QPS':>9s} {'x flat':>7s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for dim in (int(d) for d in args.dims.split(",")):
            flat_qps = None
            for backend, kind, options in configs:
                out = Path(tmp) / f"{backend}-{kind}-{dim}-{len(options)}"
                started = time.perf_counter()
                info = build_index(corpus, ids, out, backend=backend, kind=kind, dim=dim, **options)
                build_s = time.perf_counter() - started
                index = open_index(out)
                index.search(held_out[:10], 10)  # warm-up
                started = time.perf_counter()
                index.search(held_out, 10)
                qps = len(held_out) / (time.perf_counter() - started)
                close = getattr(index, "close", None)
                if close:
                    close()
                if backend == "faiss" and kind == "flat":
                    flat_qps = qps
                label = kind + ("+refine" if options else "")
                ratio = f"{qps / flat_qps:7.2f}" if flat_qps else "    n/a"
                print(
                    f"{backend:8s} {label:12s} {dim:4d} {build_s:8.1f} {info.recall_at_10:9.4f} {qps:9.0f} {ratio}"
                )


if __name__ == "__main__":
    main()
