"""Simple hand-made features per modality, for the linear probes of ``check_world``.

They are deliberately plain (no learned model) so the probes measure what each modality *carries*:

* text: TF-IDF over every text field;
* image: 16×16 grey thumbnail, colour histograms, channel means and spreads;
* video: mean-frame thumbnail, colour histogram, frame differences and the camera shift between frames
  estimated by phase correlation (numpy FFT);
* audio: log band energies of the mean power spectrum, spectral centroid and spread, onset-envelope
  autocorrelation over tempo lags, loudness.

A missing medium gives zeros plus an indicator column.
"""

from __future__ import annotations

import io
import itertools
import wave
from pathlib import Path

import av
import numpy as np
from PIL import Image

SR = 16_000


def _grey(img: np.ndarray) -> np.ndarray:
    return img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _pool(a: np.ndarray, out: int) -> np.ndarray:
    h, w = a.shape[:2]
    return (
        a[: h - h % out, : w - w % out].reshape(out, h // out, out, w // out, *a.shape[2:]).mean(axis=(1, 3))
    )


def _colour_hist(img: np.ndarray, bins: int = 8) -> np.ndarray:
    px = img.reshape(-1, 3)
    return np.concatenate([np.histogram(px[:, c], bins=bins, range=(0, 256))[0] / len(px) for c in range(3)])


def image_features(data: bytes | None) -> np.ndarray:
    """Features of a PNG/JPEG cover (zeros + indicator when missing)."""
    if data is None:
        return np.zeros(IMAGE_DIM, dtype=np.float32)
    img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((64, 64)), dtype=np.float32)
    px = img.reshape(-1, 3)
    feats = [_pool(_grey(img), 16).ravel() / 255, _colour_hist(img), px.mean(0) / 255, px.std(0) / 255, [1.0]]
    return np.concatenate(feats).astype(np.float32)


IMAGE_DIM = 256 + 24 + 6 + 1


def decode_frames(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return np.stack(frames).astype(np.float32)


def _shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Translation from frame a to frame b by phase correlation."""
    fa, fb = np.fft.fft2(a - a.mean()), np.fft.fft2(b - b.mean())
    r = fb * np.conj(fa)
    r /= np.abs(r) + 1e-6
    corr = np.fft.ifft2(r).real
    dy, dx = np.unravel_index(int(np.argmax(corr)), corr.shape)
    h, w = corr.shape
    return float(dy - h if dy > h // 2 else dy), float(dx - w if dx > w // 2 else dx)


def video_features(data: bytes | None) -> np.ndarray:
    if data is None:
        return np.zeros(VIDEO_DIM, dtype=np.float32)
    frames = decode_frames(data)
    grey = _grey(frames)
    shifts = np.array([_shift(grey[k], grey[k + 1]) for k in range(len(grey) - 1)])
    dy, dx = shifts[:, 0], shifts[:, 1]
    diff = np.abs(np.diff(grey, axis=0)).mean()
    motion = [
        np.abs(dx).mean(), np.abs(dy).mean(), dx.std(), dy.std(), abs(dx.mean()), abs(dy.mean()),
        np.abs(np.diff(dx)).mean(), np.abs(np.diff(dy)).mean(), diff / 50,
        (np.abs(dx) > 1).mean(), (np.abs(dy) > 1).mean(),
    ]  # fmt: skip
    mean_frame = grey.mean(0)
    feats = [
        _pool(mean_frame, 16).ravel() / 255,
        _pool(grey[0], 8).ravel() / 255,
        _colour_hist(frames[0]),
        motion,
        [1.0],
    ]
    return np.concatenate([np.ravel(f) for f in feats]).astype(np.float32)


VIDEO_DIM = 256 + 64 + 24 + 11 + 1


def read_wav(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data), "rb") as w:
        raw = w.readframes(w.getnframes())
        width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
    if width != 2:
        raise ValueError(f"expected 16-bit PCM, got {8 * width}-bit")
    sig = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        sig = sig.reshape(-1, channels).mean(1)
    if rate != SR:
        import soxr

        sig = soxr.resample(sig, rate, SR)
    return sig


N_BANDS = 24
_EDGES = np.geomspace(60, 7600, N_BANDS + 1)
_TEMPO_LAGS = np.arange(10, 40)  # onset-envelope lags at 31.25 frames/s: 47–187 BPM


def audio_features(data: bytes | None, max_seconds: float = 6.0) -> np.ndarray:
    if data is None:
        return np.zeros(AUDIO_DIM, dtype=np.float32)
    sig = read_wav(data)[: int(max_seconds * SR)]
    n_fft, hop = 1024, 512
    if len(sig) < n_fft:
        sig = np.pad(sig, (0, n_fft - len(sig)))
    n_frames = 1 + (len(sig) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(sig[idx] * np.hanning(n_fft), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1 / SR)
    band = np.stack(
        [spec[:, (freqs >= lo) & (freqs < hi)].sum(1) for lo, hi in itertools.pairwise(_EDGES)],
        1,
    )
    logband = np.log(band.mean(0) + 1e-8)
    logband = logband - logband.max()
    p = spec / (spec.sum(1, keepdims=True) + 1e-12)
    centroid = (p * freqs).sum(1)
    spread = np.sqrt((p * (freqs - centroid[:, None]) ** 2).sum(1))
    energy = np.log(spec.sum(1) + 1e-8)
    onset = np.maximum(np.diff(energy), 0)
    onset = onset - onset.mean()
    ac = np.array([(onset[:-lag] * onset[lag:]).mean() if len(onset) > lag else 0.0 for lag in _TEMPO_LAGS])
    ac = ac / ((onset**2).mean() + 1e-8)
    peak = np.argmax(spec[:, 1:], axis=1) + 1  # dominant frequency per frame, as a band histogram
    pitch = np.histogram(freqs[peak], bins=_EDGES)[0] / max(len(peak), 1)
    stats = [
        centroid.mean() / 4000,
        centroid.std() / 4000,
        spread.mean() / 4000,
        energy.std() / 10,
        onset.std(),
    ]
    feats = [logband / 10, pitch, ac, stats, [1.0]]
    return np.concatenate([np.ravel(f) for f in feats]).astype(np.float32)


AUDIO_DIM = N_BANDS + N_BANDS + len(_TEMPO_LAGS) + 5 + 1


def load_bytes(root: Path, value: str | bytes | None) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return (root / value).read_bytes()
