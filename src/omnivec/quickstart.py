"""The quickstart main job (first README command).

Stage one of its life: build the ``small`` model, write sample media (a PNG cover, an MP4 with motion and an
audio track, a WAV), embed one item per modality mix, and print the embedding shapes, timings and the cosine
similarity between mixes of the same content. The training/evaluation issues extend it to the whole run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from omnivec.utils.io import atomic_dir


def write_sample_media(folder: Path, seed: int = 0) -> dict[str, Path]:
    """A cover image, a 2-second video with a moving square and a tone, and a 3-second WAV."""
    import av
    import soundfile as sf
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    size = 64
    yy, xx = np.mgrid[0:size, 0:size]
    cover = np.stack([xx * 4 % 256, yy * 4 % 256, np.full_like(xx, 128)], axis=-1).astype(np.uint8)
    Image.fromarray(cover).save(folder / "cover.png")

    sr = 16000
    t = np.arange(3 * sr) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t))
    sf.write(folder / "audio.wav", (tone + 0.01 * rng.standard_normal(len(t))).astype(np.float32), sr)

    with av.open(str(folder / "video.mp4"), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(16):
            frame = np.full((size, size, 3), 30, dtype=np.uint8)
            x = 4 + 3 * i
            frame[20:36, x : x + 16] = (250, 200, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return {"image": folder / "cover.png", "video": folder / "video.mp4", "audio": folder / "audio.wav"}


def sample_items(media: dict[str, Path]) -> dict[str, dict]:
    text = {
        "title": "golden retriever surfing at sunset",
        "ocr": "surf dog",
        "tags": ["dogs", "beach", "surfing"],
    }
    img, vid, aud = str(media["image"]), str(media["video"]), str(media["audio"])
    return {
        "text": dict(text),
        "image": {"image": img},
        "audio": {"audio": aud},
        "video": {"video": vid},
        "image+text": {**text, "image": img},
        "video+audio": {"video": vid, "audio": aud},
        "omni": {**text, "image": img, "video": vid, "audio": aud},
    }


def run_quickstart(out: Path, *, arch: str = "small", echo: Callable[[str], None] = print) -> dict:
    from omnivec.model import build

    t0 = time.perf_counter()
    model = build(arch)
    echo(
        f"built architecture {arch!r} in {time.perf_counter() - t0:.1f}s "
        f"(dim {model.dimension}, matryoshka {model.matryoshka_dims})"
    )
    with atomic_dir(out) as tmp:
        media = write_sample_media(tmp / "samples")
        items = sample_items(media)
        t1 = time.perf_counter()
        emb = model.encode(list(items.values()), task="i2i", side="query")
        took = time.perf_counter() - t1
        model.save(str(tmp / "model"))
        names = list(items)
        echo(f"embedded {len(names)} items of every modality mix in {took:.2f}s -> shape {tuple(emb.shape)}")
        sims = emb @ emb.T
        echo("cosine similarity to the omni item (untrained towers; training comes with the recipe):")
        for name, s in zip(names, sims[names.index("omni")], strict=True):
            echo(f"  {name:12s} {s:+.3f}")
        np.save(tmp / "sample_embeddings.npy", emb)
    echo(f"model and sample embeddings saved under {out}")
    return {"names": names, "embeddings": emb}
