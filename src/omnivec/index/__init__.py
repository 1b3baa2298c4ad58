"""Vector indexes over omnivec embeddings: build once, search by vector or by query item.

    from omnivec.index import build_index, open_index, search
    info = build_index(vectors, ids, "idx", kind="hnsw", dim=128, items=rows)   # info.recall_at_10
    index = open_index("idx")
    hits = index.search(query_vectors, k=10)                 # [[SearchHit(id, score, fields), ...], ...]
    hits = search(model, index, {"text": "beach sunset"}, k=10)
    hits = search(model, index, {"text": "x7-200 charger"}, k=10, mode="hybrid")   # dense + BM25, fused

Backends (registry in :mod:`omnivec.index.registry`): ``faiss`` (embedded, files on disk) and ``milvus``
(pymilvus: milvus-lite file or server URI). ``faiss`` and ``pymilvus`` are imported on first use.
With items that carry text, a build also writes a BM25 index (:mod:`omnivec.index.lexical`, ``index.lexical``)
for ``lexical`` and ``hybrid`` search (:mod:`omnivec.index.hybrid`: reciprocal-rank or weighted fusion).
"""

from __future__ import annotations

from omnivec.index.build import build_index, build_index_from_files, open_index, read_info
from omnivec.index.faiss_backend import FaissIndex
from omnivec.index.hybrid import FUSIONS, MODES, HybridSearcher, hybrid_search, rrf_fuse, weighted_fuse
from omnivec.index.lexical import LexicalIndex, item_text
from omnivec.index.milvus_backend import MilvusIndex
from omnivec.index.protocol import METRICS, BaseIndex, Index, IndexInfo, SearchHit
from omnivec.index.registry import BACKENDS, get_backend
from omnivec.index.search import search
from omnivec.index.tables import read_embeddings, read_items_table
from omnivec.index.vectors import exact_search, prepare_vectors, recall_at_k

__all__ = [
    "BACKENDS",
    "FUSIONS",
    "METRICS",
    "MODES",
    "BaseIndex",
    "FaissIndex",
    "HybridSearcher",
    "Index",
    "IndexInfo",
    "LexicalIndex",
    "MilvusIndex",
    "SearchHit",
    "build_index",
    "build_index_from_files",
    "exact_search",
    "get_backend",
    "hybrid_search",
    "item_text",
    "open_index",
    "prepare_vectors",
    "read_embeddings",
    "read_info",
    "read_items_table",
    "recall_at_k",
    "rrf_fuse",
    "search",
    "weighted_fuse",
]
