"""Sample items of every modality mix (a PNG cover, an MP4 with motion, a WAV), for demos and smoke checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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
