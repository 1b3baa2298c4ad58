"""FAISS backend: an embedded index in ``index.faiss``, internal ids 0..N-1 mapped through ``ids.parquet``.

Kinds: ``flat`` (``IndexFlatIP``, exact), ``hnsw`` (``IndexHNSWFlat`` with inner product), ``ivfpq``
(``IndexIVFPQ`` over an ``IndexFlatIP`` coarse quantizer, optionally wrapped in ``IndexRefineFlat``); see
:mod:`omnivec.index.params` for the options. Search options (``ef_search``, ``nprobe``, ``refine``) are
applied when the index is opened; ``ef_search`` and ``nprobe`` may be overridden there. ``faiss`` is imported on first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from tqdm.auto import tqdm

from omnivec.errors import ConfigError, DataFormatError
from omnivec.index.params import (
    HNSW_OPTIONS,
    IVFPQ_OPTIONS,
    check_int,
    resolve_hnsw,
    resolve_ivfpq,
    resolve_refine,
)
from omnivec.index.protocol import BaseIndex

INDEX_FILE = "index.faiss"
#: Vectors per ``index.add`` call (progress granularity).
ADD_CHUNK = 65536


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise ConfigError("backend 'faiss' needs the faiss-cpu package: pip install faiss-cpu") from None
    return faiss


def write_faiss_index(index: Any, path: Path) -> None:
    """``faiss.write_index`` to a temporary name in the same folder, then ``os.replace`` onto ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        _faiss().write_index(index, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class FaissIndex(BaseIndex):
    """An index held by FAISS in this process (the default backend)."""

    backend: ClassVar[str] = "faiss"
    kinds: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "flat": (),
        "hnsw": HNSW_OPTIONS,
        "ivfpq": (*IVFPQ_OPTIONS, "refine"),
    }
    search_options: ClassVar[tuple[str, ...]] = ("ef_search", "nprobe")

    def __init__(self, path: Path, info: dict[str, Any], ids: Sequence[str], index: Any) -> None:
        super().__init__(path, info, ids)
        self._index = index
        if index.ntotal != len(ids):
            raise DataFormatError(f"{path}: {INDEX_FILE} holds {index.ntotal} vectors but ids has {len(ids)}")
        if index.d != self.dim:
            raise DataFormatError(f"{path}: {INDEX_FILE} has dim {index.d} but index.json says {self.dim}")
        self._apply_search_options(info["options"])

    # ------------------------------------------------------------ options
    @classmethod
    def resolve_options(
        cls, kind: str, n: int, dim: int, options: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        cls.check_kind(kind)
        cls.check_option_names(kind, options)
        notes: list[str] = []
        if kind == "hnsw":
            return resolve_hnsw(options), notes
        if kind == "ivfpq":
            return {**resolve_ivfpq(n, dim, options, notes), "refine": resolve_refine(options)}, notes
        return {}, notes

    def _apply_search_options(self, options: Mapping[str, Any]) -> None:
        faiss = _faiss()
        kind = self.info["kind"]
        if kind == "hnsw" and "ef_search" in options:
            faiss.downcast_index(self._index).hnsw.efSearch = int(options["ef_search"])
        elif kind == "ivfpq":
            if "nprobe" in options:
                faiss.extract_index_ivf(self._index).nprobe = int(options["nprobe"])
            if int(options.get("refine", 0)) > 0:
                faiss.downcast_index(self._index).k_factor = float(options["refine"])

    # ---------------------------------------------------------- build/open
    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        ids: Sequence[str],
        folder: Path,
        info: dict[str, Any],
        connection: Mapping[str, Any] | None = None,
        previous: Mapping[str, Any] | None = None,
        progress: bool = False,
    ) -> FaissIndex:
        """Build the ``info['kind']`` index over prepared ``vectors`` and write ``folder/index.faiss``."""
        faiss = _faiss()
        dim, kind, opts = int(info["dim"]), info["kind"], info["options"]
        ip = faiss.METRIC_INNER_PRODUCT
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, opts["hnsw_m"], ip)
            index.hnsw.efConstruction = opts["ef_construction"]
        else:
            quantizer = faiss.IndexFlatIP(dim)
            ivf = faiss.IndexIVFPQ(quantizer, dim, opts["nlist"], opts["pq_m"], opts["nbits"], ip)
            ivf.cp.seed = int(info["seed"])
            ivf.pq.cp.seed = int(info["seed"])
            index = faiss.IndexRefineFlat(ivf) if opts["refine"] else ivf
            index.train(vectors)
        with tqdm(
            total=len(vectors), desc=f"Adding to faiss {kind}", unit="vec", disable=not progress
        ) as bar:
            for start in range(0, len(vectors), ADD_CHUNK):
                index.add(vectors[start : start + ADD_CHUNK])
                bar.update(min(ADD_CHUNK, len(vectors) - start))
        write_faiss_index(index, folder / INDEX_FILE)
        return cls(folder, info, ids, index)

    @classmethod
    def open(cls, folder: Path, info: dict[str, Any], ids: Sequence[str], **overrides: Any) -> FaissIndex:
        path = folder / INDEX_FILE
        if not path.is_file():
            raise DataFormatError(f"index folder {folder}: missing {INDEX_FILE}")
        overrides = cls._check_overrides(info["kind"], overrides)
        index = _faiss().read_index(str(path))
        info = {**info, "options": {**info["options"], **overrides}}
        return cls(folder, info, ids, index)

    @classmethod
    def _check_overrides(cls, kind: str, overrides: Mapping[str, Any]) -> dict[str, int]:
        allowed = [o for o in cls.search_options if o in cls.kinds[kind]]
        bad = sorted(set(overrides) - set(allowed))
        if bad:
            raise ConfigError(
                f"search option(s) {bad} do not apply to faiss kind {kind!r}; it accepts {allowed or 'none'}"
            )
        return {name: check_int(overrides, name, 1) for name in overrides}

    # ------------------------------------------------------------- search
    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        params = None
        if self.info["kind"] == "hnsw" and k > int(self.info["options"].get("ef_search", 0)):
            params = _faiss().SearchParametersHNSW(efSearch=k)  # the candidate list must hold k results
        scores, rows = self._index.search(queries, k, params=params)
        ids = self._ids
        return [
            [(ids[r], float(s)) for r, s in zip(row_ids, row_scores, strict=True) if r >= 0]
            for row_ids, row_scores in zip(rows.tolist(), scores.tolist(), strict=True)
        ]
