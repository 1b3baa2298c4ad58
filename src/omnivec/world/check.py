"""``check_world``: measure that a world has the structure it promises, and print the figures.

* **Probes.** Logistic regression on the plain features of :mod:`omnivec.world.features`: 3-fold
  cross-validated accuracy per (attribute, modality), and for all modalities together. "All" fuses the
  per-modality probes with one learned weight per modality; a single probe on the raw concatenation
  over-fits the ~900 noisy dense dimensions on a few thousand items and loses to the best single modality
  (location: 0.36 vs text 0.69 on 1,500 items), which would misreport what the data carries.
  ``chance`` is the majority-class rate.
* **Duplicates.** The re-upload rate, and how often an in-batch negative (batch of 64) is a true duplicate
  of the positive, for random items and for batches of the ``copair-i2i`` source (computed exactly from
  the group sizes, not sampled).
* **Taste.** The collaborative class predicted from content features (it follows the cover style for part of
  the items, so content shows some of it) vs from an SVD of the logged user × item play matrix (which shows more).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from omnivec.data.readers import read_items
from omnivec.world import features as F
from omnivec.world.manifest import load_manifest
from omnivec.world.spec import PROBE_ATTRIBUTES

MODALITIES = ("text", "image", "video", "audio")
BATCH = 64
C_TEXT = 10.0  # inverse L2 strength: TF-IDF rows are unit-norm and sparse
C_DENSE = 0.05  # standardised dense features: a few hundred noisy dimensions
MIN_PLAYS = 3  # taste is probed on items with at least this many logged plays
TASTE_ITEMS = 800  # ... and on at least this many of them when the world has them
SVD_DIM = 64


def _folds(y: np.ndarray, groups: np.ndarray, seed: int) -> tuple[np.ndarray, list] | None:
    """Rows kept (classes with >= 3 members) and 3 stratified folds that keep re-uploads of one original
    together, so a probe cannot score by memorising a copy."""
    classes, counts = np.unique(y, return_counts=True)
    keep = np.flatnonzero(np.isin(y, classes[counts >= 3]))
    if len(np.unique(y[keep])) < 2:
        return None
    cv = StratifiedGroupKFold(3, shuffle=True, random_state=seed)
    return keep, list(cv.split(keep, y[keep], groups[keep]))


def _oof_proba(x: Any, y: np.ndarray, folds: list, c: float) -> np.ndarray:
    clf = LogisticRegression(C=c, max_iter=2000)
    return cross_val_predict(clf, x, y, cv=folds, method="predict_proba")


def _fuse(logs: np.ndarray, y: np.ndarray, folds: list) -> np.ndarray:
    """Late fusion: ``argmax_k sum_m w_m log p_m(k)`` with one weight per modality, fit on each training fold
    by maximum likelihood (4 parameters: robust on a few hundred items). Returns predicted class indices."""
    pred = np.zeros(len(y), dtype=np.int64)
    for tr, te in folds:
        lt, yt = logs[:, tr], y[tr]
        rows = np.arange(len(tr))

        def nll(w: np.ndarray, lt: np.ndarray = lt, yt: np.ndarray = yt, rows: np.ndarray = rows) -> tuple:
            s = np.tensordot(w, lt, 1)
            p = softmax(s, axis=1)
            grad = np.array([np.mean((p * lm).sum(1) - lm[rows, yt]) for lm in lt])
            return float(np.mean(logsumexp(s, axis=1) - s[rows, yt])), grad

        w = minimize(nll, np.ones(len(logs)), jac=True, method="L-BFGS-B", bounds=[(0, 10)] * len(logs)).x
        pred[te] = np.tensordot(w, logs[:, te], 1).argmax(1)
    return pred


def _probe_all(xs: dict[str, Any], y: np.ndarray, groups: np.ndarray, seed: int) -> dict[str, float]:
    """Accuracy per modality, and of ``all``: the per-modality probes fused with one learned weight per
    modality (see :func:`_fuse`)."""
    split = _folds(y, groups, seed)
    if split is None:
        return {m: float("nan") for m in (*xs, "all")}
    keep, folds = split
    yk = y[keep]
    _, yi = np.unique(yk, return_inverse=True)
    out: dict[str, float] = {}
    logs = []
    for m, x in xs.items():
        p = _oof_proba(x[keep], yk, folds, C_TEXT if m == "text" else C_DENSE)
        out[m] = float(np.mean(p.argmax(1) == yi))
        logs.append(np.log(p + 1e-4))
    out["all"] = float(np.mean(_fuse(np.stack(logs), yi, folds) == yi))
    return out


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 1e-6, sd, 1.0)


def _features(root: Path, items: dict, rows: np.ndarray, lazy: bool, progress: bool) -> dict[str, Any]:
    from omnivec.world.media import render_item_media

    img, vid, aud = [], [], []
    for r in tqdm(rows, desc="features", unit="item", disable=not progress):
        iid = items["item_id"][r]
        rendered = render_item_media(root, iid) if lazy else {}
        get = {
            k: rendered.get(k) if lazy else F.load_bytes(root, items[k][r])
            for k in ("image", "video", "audio")
        }
        img.append(F.image_features(get["image"]))
        vid.append(F.video_features(get["video"]))
        aud.append(F.audio_features(get["audio"]))
    docs = [" ".join(items[f][r] or "" for f in ("title", "ocr", "asr", "nickname", "tags")) for r in rows]
    tfidf = TfidfVectorizer(min_df=2, sublinear_tf=True).fit_transform(docs)
    dense = {k: _standardise(np.stack(v)) for k, v in (("image", img), ("video", vid), ("audio", aud))}
    return {"text": tfidf, **dense}


def _in_batch_dups(groups: np.ndarray, ids: np.ndarray) -> tuple[float, float, float]:
    """For batches of 64 rows drawn at random (without replacement) from these rows, exactly: the fraction
    of in-batch negatives that are a re-upload of the positive (same duplicate group, other item), the
    fraction that are the very same item (a popular item twice in one source), and the expected fraction
    of batches holding at least one such false negative (pairs taken as independent)."""
    n = len(groups)
    if n < 2:
        return 0.0, 0.0, 0.0
    _, cg = np.unique(groups, return_counts=True)
    _, ci = np.unique(ids, return_counts=True)
    pairs = n * (n - 1)
    same_group = float((cg * (cg - 1)).sum()) / pairs
    same_item = float((ci * (ci - 1)).sum()) / pairs
    b = min(BATCH, n)
    return same_group - same_item, same_item, 1.0 - (1.0 - same_group) ** (b * (b - 1) / 2)


def check_world(
    world_dir: str | Path, *, max_items: int = 2000, seed: int = 0, progress: bool = False
) -> dict:
    """Figures that show a world's structure (see the module docstring); plain JSON-able dict."""
    root = Path(world_dir)
    manifest = load_manifest(root)
    items = read_items(root / manifest.tables["items"]).to_pydict()
    truth = pq.read_table(root / manifest.tables["truth_items"]).to_pydict()
    n = len(items["item_id"])
    rng = np.random.default_rng(seed)
    groups = np.array(items["dup_group"])
    with threadpool_limits(1):  # BLAS threads fight the probes' own loop on small machines
        plays, item_vec = _behaviour_vectors(root, manifest, items["item_id"], seed)
    rows = np.sort(rng.choice(n, size=min(n, max_items), replace=False))
    # taste is probed on items with enough plays; top up from outside the sample when it has too few
    warm = np.flatnonzero(plays >= MIN_PLAYS)
    taste_rows = np.intersect1d(rows, warm)
    want = min(TASTE_ITEMS, len(warm)) - len(taste_rows)
    if want > 0:
        taste_rows = np.union1d(taste_rows, rng.choice(np.setdiff1d(warm, rows), size=want, replace=False))
    feat_rows = np.union1d(rows, taste_rows)
    feats = _features(root, items, feat_rows, manifest.media == "lazy", progress)

    def at(sel: np.ndarray) -> dict[str, Any]:
        pos = np.searchsorted(feat_rows, sel)
        return {m: x[pos] for m, x in feats.items()}

    probes: dict[str, dict[str, float]] = {}
    with threadpool_limits(1):
        sample = at(rows)
        for attr in PROBE_ATTRIBUTES:
            y = np.array([str(truth[attr][r]) for r in rows])
            _, counts = np.unique(y, return_counts=True)
            probes[attr] = {
                "chance": float(counts.max() / counts.sum()),
                **_probe_all(sample, y, groups[rows], seed),
            }
        y = np.array([str(truth["taste"][r]) for r in taste_rows])
        _, counts = np.unique(y, return_counts=True)
        content = _probe_all(at(taste_rows), y, groups[taste_rows], seed)
        behaviour = _probe_all({"svd": _standardise(item_vec[taste_rows])}, y, groups[taste_rows], seed)
    probes["taste"] = {"chance": float(counts.max() / counts.sum()), **content}
    taste = {
        "items": len(taste_rows),
        "min_plays": MIN_PLAYS,
        "chance": probes["taste"]["chance"],
        "from_content": content["all"],
        "from_behaviour": behaviour["svd"],
    }

    # duplicates
    ids = np.array(items["item_id"])
    _, gsize = np.unique(groups, return_counts=True)
    rand_dup, _, rand_batches = _in_batch_dups(groups, ids)
    dups: dict[str, float] = {
        "reupload_rate": float(np.mean(groups != ids)),
        "items_in_dup_groups": float(gsize[gsize > 1].sum() / n),
        "dup_groups": int((gsize > 1).sum()),
        "random_batch64_reupload_negatives": rand_dup,
        "random_batch64_batches_with_one": rand_batches,
    }
    copair = root / "sources" / "copair-i2i.parquet"
    if copair.is_file():
        index = {iid: k for k, iid in enumerate(items["item_id"])}
        targets = pq.read_table(copair, columns=["target_item"]).column(0).to_pylist()
        rows_t = np.array([index[t] for t in targets], dtype=np.int64)
        if len(rows_t) >= 2:
            re_up, same, with_one = _in_batch_dups(groups[rows_t], ids[rows_t])
            dups["copair_batch64_reupload_negatives"] = re_up
            dups["copair_batch64_same_item_negatives"] = same
            dups["copair_batch64_batches_with_one"] = with_one

    figures = {
        "world": {"size": manifest.size, "seed": manifest.seed, "media": manifest.media, **manifest.counts},
        "probe_items": len(rows),
        "probes": probes,
        "duplicates": dups,
        "taste": taste,
        "digest": {"files": _digest(manifest.files), "media": manifest.media_digest},
    }
    figures["verdicts"] = verdicts(figures)
    return figures


def _behaviour_vectors(root: Path, manifest: Any, ids: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Plays per item, and item vectors from a truncated SVD of the logged user × item play matrix."""
    beh = pq.read_table(root / manifest.tables["behaviour"], columns=["user_id", "item_id"]).to_pydict()
    index = {iid: k for k, iid in enumerate(ids)}
    users = {u: k for k, u in enumerate(sorted(set(beh["user_id"])))}
    r = np.array([users[u] for u in beh["user_id"]], dtype=np.int64)
    c = np.array([index[i] for i in beh["item_id"]], dtype=np.int64)
    mat = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(users), len(ids)))
    mat.data = np.minimum(mat.data, 1.0)
    plays = np.asarray(mat.sum(0)).ravel()
    k = int(min(SVD_DIM, max(2, len(users) // 5), min(mat.shape) - 1))  # few users: fewer factors
    vec = TruncatedSVD(k, random_state=seed).fit(mat).components_.T
    return plays, vec / (np.linalg.norm(vec, axis=1, keepdims=True) + 1e-9)


def _digest(files: dict[str, str]) -> str:
    import hashlib

    h = hashlib.sha256()
    for path in sorted(files):
        h.update(f"{path} {files[path]}\n".encode())
    return h.hexdigest()


def verdicts(fig: dict) -> dict[str, bool]:
    """The pass/fail statements the issue asks a world to show, computed from the figures."""
    probes = fig["probes"]
    attrs = PROBE_ATTRIBUTES
    mean = {m: float(np.mean([probes[a][m] for a in attrs])) for m in (*MODALITIES, "all")}
    misses = {m: any(probes[a][m] < probes[a]["all"] - 0.15 for a in attrs) for m in MODALITIES}
    audio_only = [
        a for a in attrs
        if probes[a]["audio"] >= probes[a]["chance"] + 0.25
        and all(probes[a][m] <= probes[a]["chance"] + 0.1 for m in ("text", "image", "video"))
    ]  # fmt: skip
    t = fig["taste"]
    d = fig["duplicates"]
    return {
        "each_modality_misses_an_attribute": all(misses.values()),
        "all_modalities_best_on_average": all(mean["all"] > mean[m] for m in MODALITIES),
        "all_modalities_never_worse": all(
            probes[a]["all"] >= max(probes[a][m] for m in MODALITIES) - 0.05 for a in attrs
        ),
        "attribute_only_in_audio": bool(audio_only),
        "in_batch_negatives_include_duplicates": d["random_batch64_reupload_negatives"] > 0
        and d.get("copair_batch64_reupload_negatives", 1.0) > 0,
        "taste_partly_in_content": t["from_content"] >= t["chance"] + 0.05,
        "taste_clearer_in_behaviour": t["from_behaviour"] >= t["from_content"] + 0.05,
        "taste_visible_in_behaviour": t["from_behaviour"] >= t["chance"] + 0.25,
    }


def format_check_report(figures: dict) -> str:
    """The figures of :func:`check_world` as a plain-text report."""
    w = figures["world"]
    lines = [
        f"world: size={w['size']} seed={w['seed']} media={w['media']} items={w['items']} "
        f"(train {w['items_train']}, test {w['items_test']}, cold {w['items_cold']}) users={w['users']}",
        f"logs: impressions={w['impressions']} plays={w['plays']} searches={w['searches']}",
        "",
        f"linear probes: 3-fold CV accuracy on {figures['probe_items']} items; all = per-modality probes fused by learned weights",
        f"{'attribute':<12}" + "".join(f"{m:>8}" for m in ("chance", *MODALITIES, "all")),
    ]
    for attr, res in figures["probes"].items():
        lines.append(f"{attr:<12}" + "".join(f"{res[m]:>8.3f}" for m in ("chance", *MODALITIES, "all")))
    d = figures["duplicates"]
    lines += ["", "near-duplicates"]
    lines += [f"  {k:<34} {v:.3g}" if isinstance(v, float) else f"  {k:<34} {v}" for k, v in d.items()]
    t = figures["taste"]
    lines += [
        "",
        f"collaborative taste ({t['items']} items with >= {t['min_plays']} plays; chance {t['chance']:.3f})",
        f"  from content features   {t['from_content']:.3f}",
        f"  from behaviour (SVD)    {t['from_behaviour']:.3f}",
        "",
        f"digest: files {figures['digest']['files'][:16]}  media {str(figures['digest']['media'])[:16]}",
        "",
        "verdicts",
    ]
    lines += [f"  [{'ok' if v else 'FAIL'}] {k}" for k, v in figures["verdicts"].items()]
    return "\n".join(lines)
