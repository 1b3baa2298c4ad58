"""Server throughput and latency at 1, 8 and 32 concurrent clients, against the model's offline batch throughput.

    .venv/bin/python benchmarks/serve.py [--arch small] [--requests 300] [--concurrency 1 8 32]
                                         [--workloads text image] [--max-batch-items 32] [--batch-wait-ms 2]
                                         [--threads N]

What it does: builds a model of ``--arch`` (random init, seed 0), saves it, and serves it with ``omnivec serve``
in a subprocess on 127.0.0.1 (the real CLI, uvicorn, dynamic batching). Clients are asyncio tasks sharing one
``httpx.AsyncClient``; each request embeds one item and a client sends its next request when the previous one
is answered (closed loop). Per level: a warm-up, then ``--requests`` timed requests.

Offline throughput is ``model.encode(items, batch_size=max_batch_items)`` on the same items in this process
while the server is idle (measured before and after the levels; the mean is used): the best a batcher could do
on this machine. "vs offline" = server items/s ÷ offline items/s, i.e. batching efficiency including HTTP,
JSON, decoding, queueing and the load generator itself, which shares the machine's cores with the server.
"mean batch" is the server's own ``omnivec_batch_items`` histogram (sum/count) over the level; "model busy" the
share of the level's wall time the worker spent in forward passes (``omnivec_batch_seconds``).

``--threads N`` pins torch's intra-op threads of both the server and the offline run: on a shared machine,
oversubscribed OpenMP threads can slow small forward passes down many times.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LAUNCH = (
    "import sys, typer; from omnivec.cli.serve import serve; sys.argv[0] = 'omnivec-serve'; typer.run(serve)"
)
WORDS = ["beach", "sunset", "guitar", "cooking", "pasta", "travel", "city", "night", "mountain", "hiking", "dog", "cat", "music", "live", "dance", "tutorial", "review", "unboxing", "game", "football", "goal", "recipe", "cake", "street", "food", "vlog", "morning", "routine"]  # fmt: skip


def _items(workload: str, n: int, seed: int = 0) -> list[object]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 12)))) for _ in range(n)]
    if workload == "text":
        return texts
    out: list[object] = []
    for i, text in enumerate(texts):
        pixels = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="JPEG", quality=85)
        uri = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
        out.append({"title": text, "tags": ["clip", str(i % 7)], "image": uri})
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _batch_stats(url: str) -> tuple[float, float, float]:
    """The server's (items embedded, forward passes, seconds in forward passes) so far, from /metrics."""
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10).text

    def value(name: str) -> float:
        return float(re.search(rf"^{name} ([0-9.e+]+)$", text, re.M).group(1))  # type: ignore[union-attr]

    return (
        value("omnivec_batch_items_sum"),
        value("omnivec_batch_items_count"),
        value("omnivec_batch_seconds_sum"),
    )


async def _level(
    url: str, model: str, items: list[object], clients: int, n: int
) -> tuple[float, list[float], int]:
    """``n`` requests from ``clients`` closed-loop clients: (wall seconds, latencies, non-200 answers)."""
    import httpx

    latencies: list[float] = []
    failures = 0
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal failures
            for i in counter:
                body = {"input": [items[i % len(items)]], "model": model, "encoding_format": "base64"}
                start = time.perf_counter()
                r = await client.post("/v1/embeddings", json=body)
                latencies.append(time.perf_counter() - start)
                failures += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return time.perf_counter() - start, latencies, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="small")
    ap.add_argument("--requests", type=int, default=300, help="timed requests per level")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--workloads", nargs="+", default=["text", "image"], choices=["text", "image"])
    ap.add_argument("--max-batch-items", type=int, default=32)
    ap.add_argument("--batch-wait-ms", type=float, default=2.0)
    ap.add_argument(
        "--threads", type=int, default=None, help="torch threads of server and offline run (default: torch's)"
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    import httpx
    import torch

    import omnivec

    server_env = dict(os.environ)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        server_env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    rows: list[str] = []
    notes: list[str] = []
    offline: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / f"omnivec-{args.arch}"
        model = omnivec.build(args.arch, seed=0)
        model.save(str(model_dir))
        model = omnivec.load(model_dir)
        model.eval()
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-c", LAUNCH, "--model", str(model_dir), "--port", str(port), "--log-level",
               "warning", "--max-batch-items", str(args.max_batch_items), "--batch-wait-ms", str(args.batch_wait_ms),
               "--max-pending-requests", "1024", "--max-queue-items", "4096"]  # fmt: skip
        log_path = Path(tmp) / "server.log"
        log = log_path.open("w")  # a file, not a pipe: a full pipe would block the server
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=server_env)
        try:
            deadline = time.monotonic() + 120
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"the server exited:\n{log_path.read_text()[-4000:]}")
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start within 120 s")
                time.sleep(0.2)

            for workload in args.workloads:
                items = _items(workload, 256)
                bs = args.max_batch_items
                model.encode(items[:bs], batch_size=bs)  # warm-up
                n_off = max(args.requests, 4 * bs)
                batch = [items[i % len(items)] for i in range(n_off)]

                def offline_rate(batch: list[object] = batch, bs: int = bs) -> float:
                    start = time.perf_counter()
                    model.encode(batch, batch_size=bs, show_progress_bar=False)
                    return len(batch) / (time.perf_counter() - start)

                before_rate = offline_rate()
                level_rows = []

                for clients in args.concurrency:
                    asyncio.run(_level(url, model_dir.name, items, clients, 2 * clients))  # warm-up
                    before = _batch_stats(url)
                    wall, lat, failures = asyncio.run(
                        _level(url, model_dir.name, items, clients, args.requests)
                    )
                    after = _batch_stats(url)
                    mean_batch = (after[0] - before[0]) / max(after[1] - before[1], 1)
                    busy = (after[2] - before[2]) / wall
                    rps = len(lat) / wall
                    ms = np.asarray(lat) * 1000
                    level_rows.append((clients, rps, ms, mean_batch, busy, failures))
                # offline measured before and after the levels (the machine may be shared): their mean
                after_rate = offline_rate()
                offline[workload] = (before_rate + after_rate) / 2
                notes.append(f"{workload}: offline {before_rate:.1f} items/s before, {after_rate:.1f} after")
                for clients, rps, ms, mean_batch, busy, failures in level_rows:
                    rows.append(
                        f"| {workload} | {clients} | {rps:.1f} | {np.percentile(ms, 50):.1f} | "
                        f"{np.percentile(ms, 99):.1f} | {mean_batch:.1f} | {busy:.0%} | {offline[workload]:.1f} | "
                        f"{rps / offline[workload]:.2f} | {failures} |"
                    )
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()

    print(f"\narch={args.arch}  torch threads={torch.get_num_threads()}  cpus={os.cpu_count()}  "
          f"max_batch_items={args.max_batch_items}  batch_wait_ms={args.batch_wait_ms:g}  "
          f"requests/level={args.requests}  1 item per request")  # fmt: skip
    print(
        "| workload | clients | req/s | p50 ms | p99 ms | mean batch | model busy | offline items/s | vs offline "
        "| non-200 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(row)
    load = os.getloadavg()
    print(f"\n{'; '.join(notes)}; load average at the end {load[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
