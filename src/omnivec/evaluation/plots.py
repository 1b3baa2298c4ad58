"""Figures of the evaluation report, as base64 PNG strings (matplotlib, Agg, no pyplot global state).

Each function takes plain data (result dicts, log records, arrays) and returns a ``data:`` URI body, or
``None`` when there is nothing to draw. Figures are built with :class:`matplotlib.figure.Figure` directly, so
nothing here changes the caller's matplotlib backend.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from omnivec.evaluation.retrieval import HIST_BINS

__all__ = ["embedding_map", "pca_2d", "recall_curves", "similarity_plot", "training_curves"]

_COLS = 4
_MAP_POINTS = 5000


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _grid(n: int, width: float = 3.4, height: float = 2.7) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    cols = min(_COLS, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    return fig, axes


def recall_curves(models: dict[str, dict[str, Any]]) -> str | None:
    """Recall@k against k, one panel per retrieval task, one line per model."""
    tasks: list[str] = []
    for res in models.values():
        for task, metrics in res.items():
            if task.startswith("_") or "/" in task or not isinstance(metrics, dict):
                continue
            if sum(m.startswith("recall@") for m in metrics) >= 2 and task not in tasks:
                tasks.append(task)
    if not tasks:
        return None
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        for name, res in models.items():
            pts = sorted(
                (int(m.split("@")[1]), v) for m, v in res.get(task, {}).items() if m.startswith("recall@")
            )
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("k", fontsize=8)
        ax.set_ylabel("Recall@k", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return _png(fig)


def similarity_plot(models: dict[str, dict[str, Any]]) -> str | None:
    """Cosine distributions of positives (solid) and random negatives (dashed) per task and model."""
    sims = {name: res.get("_meta", {}).get("similarity", {}) for name, res in models.items()}
    tasks = list(dict.fromkeys(t for s in sims.values() for t in s))
    if not tasks:
        return None
    centres = (HIST_BINS[:-1] + HIST_BINS[1:]) / 2
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        for c, (name, s) in enumerate(sims.items()):
            if task not in s:
                continue
            colour = f"C{c % 10}"
            for kind, style in (("pos", "-"), ("neg", "--")):
                counts = np.asarray(s[task][kind], dtype=float)
                if counts.sum() > 0:
                    ax.plot(centres, counts / counts.sum(), style, color=colour, label=f"{name} {kind}")
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("cosine", fontsize=8)
        ax.set_xlim(-1, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return _png(fig)


def training_curves(logs: dict[str, list[dict[str, Any]]]) -> str | None:
    """Training loss (and ``eval_*`` metrics, when logged) against the global step, stages marked.

    Steps restart at 0 in each stage of a multi-stage run; they are offset so the stages follow one another.
    """
    series: dict[str, tuple[list[float], list[float], list[tuple[float, str]]]] = {}
    evals: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for label, records in logs.items():
        xs, ys, marks = [], [], []
        offset, last_x, prev_step, stage = 0.0, 0.0, None, object()
        for rec in records:
            step = float(rec.get("step", 0) or 0)
            if prev_step is not None and step < prev_step:  # a new stage restarted its step counter
                offset = last_x
            x = offset + step
            if rec.get("stage") != stage:
                stage = rec.get("stage")
                marks.append((x, str(stage)))
            last_x, prev_step = max(last_x, x), step
            if isinstance(rec.get("loss"), int | float):
                xs.append(x)
                ys.append(float(rec["loss"]))
            for k, v in rec.items():
                if (
                    k.startswith("eval_")
                    and isinstance(v, int | float)
                    and not k.endswith(("_runtime", "per_second"))
                ):
                    evals.setdefault(label, {}).setdefault(k, []).append((x, float(v)))
        if xs or label in evals:
            series[label] = (xs, ys, marks)
    if not series:
        return None
    from matplotlib.figure import Figure

    n_eval = sum(1 for e in evals.values() if e)
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    ax = fig.add_subplot(1, 2 if n_eval else 1, 1)
    for c, (label, (xs, ys, marks)) in enumerate(series.items()):
        ax.plot(xs, ys, color=f"C{c % 10}", lw=1, label=label)
        for x, stage in marks:
            ax.axvline(x, color="grey", ls=":", lw=0.8)
            ax.text(
                x, 1.0, f" {stage}", transform=ax.get_xaxis_transform(), fontsize=7, va="top", color="grey"
            )
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("training loss", fontsize=9)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=7)
    if n_eval:
        ax2 = fig.add_subplot(1, 2, 2)
        for label, keys in evals.items():
            for k, pts in list(keys.items())[:8]:
                ax2.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=f"{label}: {k}")
        ax2.set_xlabel("step")
        ax2.set_title("evaluation during training", fontsize=9)
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=6)
    return _png(fig)


def pca_2d(x: np.ndarray) -> np.ndarray:
    """Project rows of ``x`` on their two leading principal components (centred SVD)."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T if vt.shape[0] >= 2 else np.column_stack([centred @ vt[:1].T, np.zeros(len(x))])


def embedding_map(embeddings: np.ndarray, labels: Sequence[Any], *, seed: int = 0) -> str | None:
    """PCA-2D scatter of (at most 5,000, seeded) embeddings coloured by label."""
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or len(emb) < 3:
        return None
    if len(labels) != len(emb):
        raise ValueError(f"{len(emb)} embeddings but {len(labels)} labels")
    keep = np.arange(len(emb))
    if len(emb) > _MAP_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(len(emb), _MAP_POINTS, replace=False))
    xy = pca_2d(emb[keep])
    lab = np.array([str(labels[i]) for i in keep])
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.5), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    names = sorted(set(lab.tolist()))
    cmap = "tab10" if len(names) <= 10 else "tab20"
    for c, name in enumerate(names):
        m = lab == name
        ax.scatter(xy[m, 0], xy[m, 1], s=8, alpha=0.7, color=colormaps[cmap](c % 20), label=name)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"embedding map (PCA, {len(keep)} items)", fontsize=9)
    if len(names) <= 30:
        ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _png(fig)
