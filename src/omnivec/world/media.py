"""Media of the built-in world: cover PNG, MP4 video and WAV audio, rendered from an item's latents.

Every file is a pure function of ``(world seed, item latents, item index)``: the random streams are seeded
by ``(seed, 7, root index, modality)`` for the content and ``(seed, 8, item index, modality)`` for the
small edits of a re-upload. So a ``large`` world can leave media unwritten and render any item on demand
(:func:`render_item_media`), byte-identical to what a ``files`` world writes.

* cover (64×64 PNG): background and glyph colours from the *style* palette; a 4×4 block glyph per L1
  topic; a corner marker per L2; 15 % generic covers without glyph; distractor blobs and pixel noise.
* video (8 frames, 64×64, 4 fps, MPEG-4 Part 2 in MP4): a 96×96 scene with the same L1 glyph in colours
  unrelated to style, filmed by a camera whose *motion* is static / pan / tilt / shaky.
* audio (16 kHz mono PCM16 WAV, 2–12 s): a melody whose tempo, register, timbre, scale and percussion come
  from the *mood*; speech-like formant bursts when the item has an ASR transcript.

Encoders are pinned for byte-identical output: PNG via Pillow at compression level 6 without metadata,
MP4 with ``bitexact`` flags, one encoder thread and a fixed quantiser, WAV via the standard ``wave`` module.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

SIZE = 64
N_FRAMES = 8
FPS = 4
SAMPLE_RATE = 16_000

# 4x4 glyph per L1 topic (rows top to bottom)
GLYPHS = np.array(
    [
        ["1001", "0110", "0110", "1001"],
        ["1111", "0000", "0000", "1111"],
        ["1000", "1100", "1110", "1111"],
        ["0110", "1111", "1111", "0110"],
        ["1010", "0101", "1010", "0101"],
        ["1100", "1100", "0011", "0011"],
        ["1001", "1001", "1001", "1001"],
        ["0000", "1111", "1111", "0000"],
    ]
)
GLYPH_MASKS = np.array([[[c == "1" for c in row] for row in g] for g in GLYPHS], dtype=np.float32)

# style -> candidate (background, foreground, accent) colours; foreground is always brighter than background
PALETTES: list[list[tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]]] = [
    [((130, 50, 20), (255, 185, 110), (255, 235, 190)), ((150, 40, 40), (255, 170, 90), (255, 240, 170))],
    [((20, 50, 115), (140, 205, 255), (215, 245, 255)), ((10, 85, 100), (120, 235, 230), (220, 255, 250))],
    [((25, 10, 35), (255, 40, 215), (240, 255, 70)), ((10, 20, 25), (60, 255, 120), (255, 80, 240))],
    [
        ((200, 165, 190), (255, 235, 245), (255, 255, 255)),
        ((170, 175, 220), (240, 235, 255), (255, 255, 255)),
    ],
    [((70, 70, 70), (215, 215, 215), (255, 255, 255)), ((45, 45, 45), (190, 190, 190), (250, 250, 250))],
]

# mood -> music parameters
MOOD_SPECS: list[dict] = [
    {"tempo": (60, 80), "base": (196, 262), "harm": [1, 0.15, 0.05], "decay": 1.5, "scale": [0, 2, 4, 7, 9], "beats": 1.0, "perc": 0},
    {"tempo": (118, 140), "base": (392, 523), "harm": [1, 0.5, 0.35, 0.2], "decay": 5.0, "scale": [0, 2, 4, 5, 7, 9, 11], "beats": 0.5, "perc": 1},
    {"tempo": (88, 110), "base": (98, 131), "harm": [1, 0, 0.6, 0, 0.4, 0, 0.25], "decay": 2.5, "scale": [0, 1, 3, 6, 7, 10], "beats": 0.5, "perc": 2},
    {"tempo": (56, 76), "base": (294, 370), "harm": [1, 0.4, 0.1], "decay": 0.8, "scale": [0, 2, 3, 5, 7, 8, 10], "beats": 2.0, "perc": 0},
]  # fmt: skip


@dataclass(frozen=True)
class MediaParams:
    """What the renderer needs to know about one item."""

    index: int
    root: int
    l1: int
    l2: int
    mood: int
    style: int
    motion: int
    has_image: bool
    has_video: bool
    has_audio: bool
    has_speech: bool
    seconds: float
    base_seconds: float
    seed: int = 0


def _rng(p: MediaParams, modality: int, edit: bool = False) -> np.random.Generator:
    if edit:
        return np.random.default_rng([p.seed, 8, p.index, modality])
    return np.random.default_rng([p.seed, 7, p.root, modality])


def _glyph(l1: int, cell: int) -> np.ndarray:
    return np.kron(GLYPH_MASKS[l1], np.ones((cell, cell), dtype=np.float32))


def _disk(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.float32)


def render_cover(p: MediaParams) -> np.ndarray:
    """The 64×64×3 uint8 cover of an item."""
    rng = _rng(p, 0)
    pal = PALETTES[p.style][int(rng.integers(len(PALETTES[p.style])))]
    bg, fg, acc = (np.array(c, dtype=np.float32) + rng.normal(0, 8, 3) for c in pal)
    grad = np.linspace(1.0, 0.8, SIZE, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(bg * grad, (SIZE, SIZE, 3)).copy()
    generic = rng.random() < 0.15
    if generic:  # a face-like blob: no topic
        m = _disk(SIZE, SIZE, 30 + rng.normal(0, 3), 32 + rng.normal(0, 3), rng.uniform(14, 20))
        img = img * (1 - m[..., None]) + fg * m[..., None]
    else:
        oy, ox = (int(v) for v in rng.integers(8, 17, 2))
        m = np.zeros((SIZE, SIZE), dtype=np.float32)
        m[oy : oy + 40, ox : ox + 40] = _glyph(p.l1, 10)
        img = img * (1 - m[..., None]) + fg * m[..., None]
        corner = p.l2 % 4
        cy = 2 if corner < 2 else 52
        cx = 2 if corner % 2 == 0 else 52
        cy, cx = cy + int(rng.integers(-1, 2)), cx + int(rng.integers(-1, 2))
        img[max(cy, 0) : cy + 10, max(cx, 0) : cx + 10] = acc
    for _ in range(int(rng.integers(1, 3))):  # distractor blobs
        m = _disk(SIZE, SIZE, rng.uniform(0, SIZE), rng.uniform(0, SIZE), rng.uniform(3, 7))
        col = rng.uniform(0, 255, 3).astype(np.float32)
        img = img * (1 - m[..., None]) + col * m[..., None]
    img += _noise(rng, img.shape, 8)
    if p.root != p.index:  # re-upload: shifted, re-exposed, re-noised
        e = _rng(p, 0, edit=True)
        img = np.roll(img, (int(e.integers(-2, 3)), int(e.integers(-2, 3))), axis=(0, 1))
        img = img * np.float32(e.uniform(0.85, 1.15)) + _noise(e, img.shape, 4)
    return np.clip(img, 0, 255).astype(np.uint8)


def render_frames(p: MediaParams) -> np.ndarray:
    """The (8, 64, 64, 3) uint8 frames of an item's video."""
    rng = _rng(p, 1)
    big = 96
    base = rng.uniform(25, 120, 3).astype(np.float32)
    tex = rng.normal(0, 28, (6, 6, 3)).astype(np.float32)
    tex = np.kron(tex, np.ones((16, 16, 1), dtype=np.float32))
    scene = base + tex
    fg = rng.uniform(170, 255, 3).astype(np.float32)
    if rng.random() < 0.2:  # talking head: no topic glyph
        m = _disk(big, big, 48 + rng.normal(0, 4), 48 + rng.normal(0, 4), rng.uniform(18, 26))
    else:
        m = np.zeros((big, big), dtype=np.float32)
        m[24:72, 24:72] = _glyph(p.l1, 12)
        corner = p.l2 % 4
        cy, cx = (12 if corner < 2 else 74), (12 if corner % 2 == 0 else 74)
        m[cy : cy + 10, cx : cx + 10] = 1.0
    scene = scene * (1 - m[..., None]) + fg * m[..., None]
    f = np.arange(N_FRAMES, dtype=np.float32)
    step = rng.uniform(3.0, 4.0) * (1 if rng.random() < 0.5 else -1)
    oy = np.full(N_FRAMES, 16.0)
    ox = np.full(N_FRAMES, 16.0)
    if p.motion == 1:  # pan
        ox = 16 + step * (f - 3.5)
    elif p.motion == 2:  # tilt
        oy = 16 + step * (f - 3.5)
    elif p.motion == 3:  # shaky
        oy = oy + rng.uniform(-7, 7, N_FRAMES)
        ox = ox + rng.uniform(-7, 7, N_FRAMES)
    oy = np.clip(np.round(oy), 0, big - SIZE).astype(int)
    ox = np.clip(np.round(ox), 0, big - SIZE).astype(int)
    frames = np.stack([scene[y : y + SIZE, x : x + SIZE] for y, x in zip(oy, ox, strict=True)])
    frames = frames + _noise(rng, frames.shape, 5)
    if p.root != p.index:
        e = _rng(p, 1, edit=True)
        frames = frames * np.float32(e.uniform(0.85, 1.15)) + _noise(e, frames.shape, 3)
    return np.clip(frames, 0, 255).astype(np.uint8)


def _noise(rng: np.random.Generator, shape: int | tuple[int, ...], sd: float) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(sd)


def _harmonics(phase: np.ndarray, amps: list[float]) -> np.ndarray:
    """sum_h amps[h] * sin((h + 1) * phase), by the Chebyshev recurrence (one sin, one cos)."""
    s1, c2 = np.sin(phase), 2 * np.cos(phase)
    out = amps[0] * s1
    prev, cur = np.zeros_like(s1), s1
    for a in amps[1:]:
        prev, cur = cur, c2 * cur - prev
        if a:
            out += a * cur
    return out


def _phase(freq: np.ndarray) -> np.ndarray:
    return np.mod(2 * np.pi * np.cumsum(freq, dtype=np.float64) / SAMPLE_RATE, 2 * np.pi).astype(np.float32)


def render_audio(p: MediaParams) -> np.ndarray:
    """The float32 waveform in [-1, 1] at 16 kHz of an item's soundtrack."""
    rng = _rng(p, 2)
    spec = MOOD_SPECS[p.mood]
    n = round(p.base_seconds * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float32) / np.float32(SAMPLE_RATE)
    tempo = rng.uniform(*spec["tempo"])
    beat = 60.0 / tempo
    note_len = beat * spec["beats"]
    n_notes = int(np.ceil(p.base_seconds / note_len)) + 1
    scale = spec["scale"]
    deg = np.clip(np.cumsum(rng.integers(-2, 3, n_notes)) + len(scale), 0, 2 * len(scale) - 1)
    semis = 12 * (deg // len(scale)) + np.array(scale)[deg % len(scale)]
    freqs = rng.uniform(*spec["base"]) * 2.0 ** (semis / 12.0)
    idx = np.minimum((t / np.float32(note_len)).astype(np.int64), n_notes - 1)
    local = t - (idx * note_len).astype(np.float32)
    env = np.minimum(local * 100.0, 1.0) * np.exp(-np.float32(spec["decay"]) * local)
    sig = 0.5 * _harmonics(_phase(freqs[idx]), spec["harm"]) * env
    if spec["perc"]:
        offset = 0.0 if spec["perc"] == 1 else beat / 2
        hit = np.exp(np.float32(-40.0) * np.mod(t - np.float32(offset), np.float32(beat))) * (t >= offset)
        sig += 0.35 * hit * _noise(rng, n, 1.0)
    if p.has_speech:
        syl = 1.0 / rng.uniform(4.0, 5.0)
        n_syl = int(np.ceil(p.base_seconds / syl)) + 1
        active = rng.random(int(np.ceil(p.base_seconds)) + 1) < 0.6
        si = np.minimum((t / np.float32(syl)).astype(np.int64), n_syl - 1)
        f1 = rng.uniform(300, 800, n_syl)[si]
        f2 = rng.uniform(900, 2300, n_syl)[si]
        f0 = rng.uniform(110, 220)
        voice = 0.6 * np.sin(_phase(f1)) + 0.3 * np.sin(_phase(f2))
        voice *= 0.5 + 0.5 * np.sin(np.float32(2 * np.pi * f0) * t)
        syl_env = np.sin(np.float32(np.pi / syl) * (t - (si * syl).astype(np.float32))) ** 2
        sig += 0.5 * voice * syl_env * active[np.minimum(t.astype(np.int64), len(active) - 1)]
    sig += _noise(rng, n, rng.uniform(0.005, 0.03))
    sig *= np.float32(rng.uniform(0.5, 0.9) / max(float(np.max(np.abs(sig))), 1e-6))
    if p.root != p.index:  # re-upload: trimmed, re-levelled, a little extra noise
        e = _rng(p, 2, edit=True)
        m = min(round(p.seconds * SAMPLE_RATE), n)
        sig = sig[:m] * np.float32(e.uniform(0.7, 1.0)) + _noise(e, m, 0.003)
    return np.clip(sig, -1.0, 1.0).astype(np.float32)


def encode_png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img, mode="RGB").save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def encode_mp4(frames: np.ndarray, qscale: int = 4) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("mpeg4", rate=FPS, options={"flags": "+bitexact", "qscale": str(qscale)})
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
        stream.codec_context.thread_count = 1
        for fr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def encode_wav(sig: np.ndarray) -> bytes:
    pcm = np.round(sig * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def render_media(p: MediaParams) -> dict[str, bytes]:
    """Encoded bytes of every medium the item has: keys among ``image``, ``video``, ``audio``."""
    out: dict[str, bytes] = {}
    if p.has_image:
        out["image"] = encode_png(render_cover(p))
    if p.has_video:
        out["video"] = encode_mp4(render_frames(p), qscale=4 if p.root == p.index else 6)
    if p.has_audio:
        out["audio"] = encode_wav(render_audio(p))
    return out


# ---- parameters from latents, and on-demand rendering ------------------------------------------------------
PARAM_COLUMNS = ("l1", "l2", "mood", "style", "motion", "root", "has_image", "has_video", "has_audio",
                 "has_speech", "audio_seconds")  # fmt: skip


def params_at(cols: dict[str, np.ndarray], index: int, seed: int) -> MediaParams:
    """:class:`MediaParams` of item ``index`` from per-item arrays (codes, not names)."""
    root = int(cols["root"][index])
    return MediaParams(
        index=index,
        root=root,
        l1=int(cols["l1"][index]),
        l2=int(cols["l2"][index]),
        mood=int(cols["mood"][index]),
        style=int(cols["style"][index]),
        motion=int(cols["motion"][index]),
        has_image=bool(cols["has_image"][index]),
        has_video=bool(cols["has_video"][index]),
        has_audio=bool(cols["has_audio"][index]),
        has_speech=bool(cols["has_speech"][index]),
        seconds=float(cols["audio_seconds"][index]),
        base_seconds=float(cols["audio_seconds"][root]),
        seed=seed,
    )


def _truth_columns(world_dir: str) -> tuple[dict[str, np.ndarray], int]:
    cached = _TRUTH_CACHE.get(world_dir)
    if cached is not None:
        return cached
    import pyarrow.parquet as pq

    from omnivec.world import vocab
    from omnivec.world.manifest import load_manifest

    manifest = load_manifest(world_dir)
    t = pq.read_table(Path(world_dir) / manifest.tables["truth_items"]).to_pydict()
    codes = {
        "l1": vocab.L1_NAMES,
        "l2": vocab.L2_NAMES,
        "mood": vocab.MOODS,
        "style": vocab.STYLES,
        "motion": vocab.MOTIONS,
    }
    cols: dict[str, np.ndarray] = {}
    for key, names in codes.items():
        lookup = {name: k for k, name in enumerate(names)}
        column = "topic_" + key if key in ("l1", "l2") else key
        cols[key] = np.array([lookup[v] for v in t[column]], dtype=np.int64)
    cols["root"] = np.array([int(r[1:]) for r in t["root"]], dtype=np.int64)
    for key in ("has_image", "has_video", "has_audio", "has_speech"):
        cols[key] = np.array(t[key], dtype=bool)
    cols["audio_seconds"] = np.array(t["audio_seconds"], dtype=np.float64)
    cols["item_id"] = np.array(t["item_id"])
    _TRUTH_CACHE.clear()  # keep one world in memory
    _TRUTH_CACHE[world_dir] = (cols, manifest.seed)
    return cols, manifest.seed


_TRUTH_CACHE: dict[str, tuple[dict[str, np.ndarray], int]] = {}


def render_item_media(world_dir: str | Path, item_id: str) -> dict[str, bytes]:
    """Render one item's media of the world in ``world_dir`` on demand (``image``/``video``/``audio`` bytes).

    The bytes equal the files a ``files`` world writes; ``large`` worlds (``media: lazy``) write none and
    rely on this. Raises ``KeyError`` for an unknown item id.
    """
    if not isinstance(world_dir, str | Path):
        raise TypeError("render_item_media needs the world folder (a path), not a manifest object")
    cols, seed = _truth_columns(str(Path(world_dir).resolve()))
    try:
        index = int(item_id[1:])
    except ValueError:
        index = -1
    if not (0 <= index < len(cols["l1"])) or cols["item_id"][index] != item_id:
        raise KeyError(f"item {item_id!r} is not in the world at {world_dir}")
    return render_media(params_at(cols, index, seed))


def materialize_media(world_dir: str | Path, item_ids: list[str] | None = None) -> int:
    """Write the media files of ``item_ids`` (default: every item) of a lazy world; returns files written."""
    from omnivec.world.io import write_bytes
    from omnivec.world.items import media_path

    cols, _ = _truth_columns(str(Path(world_dir).resolve()))
    ids = list(cols["item_id"]) if item_ids is None else item_ids
    written = 0
    for iid in ids:
        for kind, data in render_item_media(world_dir, iid).items():
            write_bytes(Path(world_dir) / media_path(kind, int(iid[1:])), data)
            written += 1
    return written
