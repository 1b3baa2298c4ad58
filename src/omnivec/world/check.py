"""``check_world``: measure that a world has the structure it promises, and print the figures.

* **Probes.** Logistic regression on the plain features of :mod:`omnivec.world.features`, 3-fold
  cross-validated accuracy per (attribute, modality) and for all modalities concatenated.
* **Duplicates.** The re-upload rate, and how often an in-batch negative (batch of 64) is a true duplicate
  of the positive, for random items and for batches of the ``copair-i2i`` source.
* **Taste.** The hidden collaborative class predicted from content features vs from an SVD of the logged
  user × item play matrix.
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


def _in_batch_dups(
    groups: np.ndarray, ids: np.ndarray, rng: np.random.Generator, n_batches: int = 400
) -> tuple[float, float, float]:
    """Over random batches of 64 rows: the fraction of in-batch negatives that are a re-upload of the
    positive (same duplicate group, other item), the fraction that are the very same item (a popular item
    twice in one batch), and the fraction of batches with at least one such false negative."""
    n = len(groups)
    b = min(BATCH, n)
    reupload, same_item, batches_with = 0, 0, 0
    for _ in range(n_batches):
        pick = rng.choice(n, size=b, replace=False)
        g, i = groups[pick], ids[pick]
        same_g = g[:, None] == g[None, :]
        same_i = i[:, None] == i[None, :]
        np.fill_diagonal(same_g, False)
        np.fill_diagonal(same_i, False)
        reupload += int((same_g & ~same_i).sum())
        same_item += int(same_i.sum())
        batches_with += bool(same_g.any())
    pairs = n_batches * b * (b - 1)
    return reupload / pairs, same_item / pairs, batches_with / n_batches


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
    rows = np.sort(rng.choice(n, size=min(n, max_items), replace=False))
    feats = _features(root, items, rows, manifest.media == "lazy", progress)

    groups = np.array(items["dup_group"])
    probes: dict[str, dict[str, float]] = {}
    with threadpool_limits(1):  # BLAS threads fight the probes' own loop on small machines
        for attr in [*PROBE_ATTRIBUTES, "taste"]:
            y = np.array([str(truth[attr][r]) for r in rows])
            _, counts = np.unique(y, return_counts=True)
            probes[attr] = {
                "chance": float(counts.max() / counts.sum()),
                **_probe_all(feats, y, groups[rows], seed),
            }
        taste = _taste(root, manifest, items, truth, rows, feats, seed)

    # duplicates
    ids = np.array(items["item_id"])
    _, gsize = np.unique(groups, return_counts=True)
    rand_dup, _, rand_batches = _in_batch_dups(groups, ids, rng)
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
            re_up, same, with_one = _in_batch_dups(groups[rows_t], ids[rows_t], rng)
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


def _taste(
    root: Path, manifest: Any, items: dict, truth: dict, rows: np.ndarray, feats: dict, seed: int
) -> dict:
    beh = pq.read_table(root / manifest.tables["behaviour"], columns=["user_id", "item_id"]).to_pydict()
    index = {iid: k for k, iid in enumerate(items["item_id"])}
    users = {u: k for k, u in enumerate(sorted(set(beh["user_id"])))}
    r = np.array([users[u] for u in beh["user_id"]])
    c = np.array([index[i] for i in beh["item_id"]])
    mat = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(users), len(items["item_id"])))
    mat.data = np.minimum(mat.data, 1.0)
    plays = np.asarray(mat.sum(0)).ravel()
    k = int(min(16, min(mat.shape) - 1))
    item_vec = TruncatedSVD(k, random_state=seed).fit(mat).components_.T  # (items, k)
    item_vec = item_vec / (np.linalg.norm(item_vec, axis=1, keepdims=True) + 1e-9)
    warm = plays[rows] >= 3
    groups = np.array(items["dup_group"])[rows[warm]]
    y = np.array([str(truth["taste"][i]) for i in rows[warm]])
    _, counts = np.unique(y, return_counts=True)
    content = _probe_all({m: x[np.flatnonzero(warm)] for m, x in feats.items()}, y, groups, seed)
    behaviour = _probe_all({"svd": _standardise(item_vec[rows[warm]])}, y, groups, seed)
    return {
        "warm_items": int(warm.sum()),
        "chance": float(counts.max() / counts.sum()) if len(counts) else float("nan"),
        "from_content": content["all"],
        "from_behaviour": behaviour["svd"],
    }


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
        "taste_hidden_from_content": t["from_content"] <= t["chance"] + 0.1,
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
    lines += [f"  {k:<34} {v:.4f}" if isinstance(v, float) else f"  {k:<34} {v}" for k, v in d.items()]
    t = figures["taste"]
    lines += [
        "",
        f"collaborative taste ({t['warm_items']} items with >= 3 plays; chance {t['chance']:.3f})",
        f"  from content features   {t['from_content']:.3f}",
        f"  from behaviour (SVD)    {t['from_behaviour']:.3f}",
        "",
        f"digest: files {figures['digest']['files'][:16]}  media {str(figures['digest']['media'])[:16]}",
        "",
        "verdicts",
    ]
    lines += [f"  [{'ok' if v else 'FAIL'}] {k}" for k, v in figures["verdicts"].items()]
    return "\n".join(lines)
