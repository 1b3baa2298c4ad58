"""What every index backend offers: :class:`Index` (the protocol), :class:`SearchHit`, :class:`IndexInfo`.

An index folder holds ``index.json`` (backend, kind, dim, metric, size, options, recall@10, model),
``ids.parquet`` (row → ``item_id``), ``items.parquet`` (item fields aligned with the rows), the backend's
own files (``index.faiss`` for FAISS; a milvus-lite ``milvus.db`` folder, or nothing when the collection
lives on a Milvus server) and, when built with text, ``lexical/`` (BM25, :mod:`omnivec.index.lexical`).
:class:`BaseIndex` implements everything except the nearest-neighbour call, so a backend only builds, opens
and answers ``_search``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from omnivec.errors import ConfigError, DataFormatError
from omnivec.index.tables import ItemStore
from omnivec.index.vectors import prepare_vectors

if TYPE_CHECKING:
    from omnivec.index.lexical import LexicalIndex
    from omnivec.index.router import QueryRouter

#: Subfolder of an index folder holding its lexical (BM25) index.
LEXICAL_DIR = "lexical"

#: Version of the on-disk layout written into ``index.json``.
FORMAT_VERSION = 1
#: Metrics an index accepts. Vectors are always L2-normalised, so both rank by cosine similarity; the name
#: only chooses Milvus' metric type (``IP`` or ``COSINE``).
METRICS: tuple[str, ...] = ("ip", "cosine")


@dataclass
class SearchHit:
    """One result: the item id, its score for the query (higher is closer) and the item's fields.

    ``score`` is the cosine similarity for dense search, the BM25 score for lexical search and the fused
    score for hybrid search; then ``details`` holds the hit's rank and score on each side that found it
    (``{"dense": {"rank": 3, "score": 0.71}, "lexical": {"rank": 1, "score": 8.2}}``).
    """

    id: str
    score: float
    fields: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "score": self.score, "fields": self.fields}
        if self.details:
            out["details"] = self.details
        return out


@dataclass
class IndexInfo:
    """What :func:`omnivec.index.build_index` built: where, how, and how well it matches exact search.

    ``recall_at_10`` is the recall@10 of the built index against exact (brute-force) search, measured on
    ``recall_queries`` corpus vectors drawn with ``seed``; ``recall_by_kind`` adds the other kinds measured
    with ``compare_kinds``. ``lexical`` summarises the BM25 part (items with text, fields, tokenizer, k1, b),
    ``None`` when the index has none. ``seconds`` (build wall time) is reported here but not stored on disk.
    """

    path: Path
    backend: str
    kind: str
    metric: str
    dim: int
    source_dim: int
    size: int
    recall_at_10: float
    recall_by_kind: dict[str, float | None]
    recall_queries: int
    options: dict[str, Any]
    model: str | None = None
    task: str | None = None
    items: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    lexical: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


@runtime_checkable
class Index(Protocol):
    """A searchable index of item vectors, as returned by :func:`omnivec.index.open_index`."""

    dim: int
    size: int
    info: dict[str, Any]

    def search(self, queries: np.ndarray, k: int) -> list[list[SearchHit]]:
        """Top-``k`` items per query row. ``queries`` is ``[Q, D]`` with ``D >= dim`` (or one ``[D]`` vector);
        the leading ``dim`` components are taken and re-normalised, as at build time."""
        ...

    def item(self, item_id: str) -> dict[str, Any] | None:
        """The stored fields of ``item_id`` (``{}`` when it has none), or ``None`` if it is not indexed."""
        ...


class BaseIndex:
    """Shared part of the backends: query preparation, id → fields, item lookup, ``index.json``.

    Subclasses set ``backend`` and ``kinds`` (kind → the options it accepts, with defaults resolved in
    ``resolve_options``) and implement ``build``, ``open`` and ``_search``.
    """

    backend: ClassVar[str]
    #: kind → names of build options (``*_search``/``nprobe`` are search options, changeable at open)
    kinds: ClassVar[Mapping[str, tuple[str, ...]]]
    #: options that only affect search and may be overridden by ``open_index(path, **options)``
    search_options: ClassVar[tuple[str, ...]] = ()
    #: options that say where the index lives (Milvus ``uri``, ``collection``, ``token``), not how it is built
    connection_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: Path, info: dict[str, Any], ids: Sequence[str]) -> None:
        self.path = Path(path)
        self.info = info
        self.dim = int(info["dim"])
        self.size = len(ids)
        self._ids = ids
        self._items = ItemStore(self.path, ids)
        self._lexical: LexicalIndex | None = None
        self._lexical_lock = threading.Lock()
        self._router_cache: tuple[int, QueryRouter] | None = None

    # ----------------------------------------------------------- protocol
    def search(self, queries: np.ndarray, k: int) -> list[list[SearchHit]]:
        q = prepare_vectors(queries, self.dim, what="queries")
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        k = min(int(k), self.size)
        if len(q) == 0 or k == 0:
            return [[] for _ in range(len(q))]
        raw = self._search(q, k)
        return [self._with_fields(hits) for hits in raw]

    def item(self, item_id: str) -> dict[str, Any] | None:
        return self._items.get(str(item_id))

    def item_fields(self, item_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Stored fields of each id (``{}`` for one with no fields or not indexed), in one table read."""
        return self._items.get_many([str(i) for i in item_ids])

    @property
    def has_lexical(self) -> bool:
        """Whether the index was built with a lexical part (``index.json`` key ``lexical``)."""
        return bool(self.info.get("lexical"))

    @property
    def lexical(self) -> LexicalIndex | None:
        """The BM25 index of the items' text (``lexical/``), loaded on first use; ``None`` without one."""
        if not self.has_lexical:
            return None
        with self._lexical_lock:
            if self._lexical is None:
                from omnivec.index.lexical import LexicalIndex

                folder = self.path / LEXICAL_DIR
                if not folder.is_dir():
                    raise DataFormatError(
                        f"{self.path}: index.json lists a lexical index but {folder} is missing"
                    )
                self._lexical = LexicalIndex.load(folder)
            return self._lexical

    @property
    def router(self) -> QueryRouter | None:
        """The hybrid query router (``router.json``, written by ``omnivec index fit-router``), read on each
        access so a newly fitted one is picked up; ``None`` without one (or without a lexical part)."""
        from omnivec.index.router import ROUTER_FILE, QueryRouter

        path = self.path / ROUTER_FILE
        if not self.has_lexical or not path.is_file():
            return None
        mtime = path.stat().st_mtime_ns
        cached = self._router_cache
        if cached is None or cached[0] != mtime:
            cached = (mtime, QueryRouter.load(path))
            self._router_cache = cached
        return cached[1]

    def search_ids(self, queries: np.ndarray, k: int) -> list[list[str]]:
        """Ids only (no field lookup): what recall is measured on."""
        q = prepare_vectors(queries, self.dim, what="queries")
        return [[i for i, _ in hits] for hits in self._search(q, min(k, self.size))]

    def close(self) -> None:
        """Release backend resources (connections). Searching afterwards is an error."""

    def destroy(self) -> None:
        """Remove backend data that lives outside the index folder (a scratch Milvus collection)."""
        self.close()

    def __enter__(self) -> BaseIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(path={str(self.path)!r}, kind={self.info.get('kind')!r}, "
            f"dim={self.dim}, size={self.size})"
        )

    # ------------------------------------------------------------- backend
    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Nearest ``k`` (id, score) pairs per prepared (truncated, normalised) query row, best first."""
        raise NotImplementedError

    @classmethod
    def resolve_options(
        cls, kind: str, n: int, dim: int, options: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        """Check ``options`` against ``kind`` and fill in defaults for ``n`` vectors of ``dim`` components;
        also return notes on values that were clamped."""
        raise NotImplementedError

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
    ) -> BaseIndex:
        """Build over prepared ``vectors`` (rows match ``ids``), writing the backend's files into ``folder``
        and its entries into ``info``; ``previous`` is the ``index.json`` of the index being replaced."""
        raise NotImplementedError

    @classmethod
    def open(cls, folder: Path, info: dict[str, Any], ids: Sequence[str], **overrides: Any) -> BaseIndex:
        """Open a built index folder; ``overrides`` change search options (``ef_search``, ``nprobe``)."""
        raise NotImplementedError

    @classmethod
    def finalize(cls, folder: Path, info: Mapping[str, Any], previous: Mapping[str, Any] | None) -> None:
        """Called once the new folder has replaced the old one (Milvus moves its alias here)."""

    @classmethod
    def check_connection(cls, kind: str, connection: Mapping[str, Any]) -> None:
        """Reject connection options (Milvus uri, collection) that cannot work, before anything is built."""

    @classmethod
    def check_kind(cls, kind: str) -> None:
        if kind not in cls.kinds:
            raise ConfigError(
                f"unknown index kind {kind!r} for backend {cls.backend!r}; expected one of {sorted(cls.kinds)}"
            )

    @classmethod
    def check_option_names(cls, kind: str, options: Mapping[str, Any]) -> None:
        allowed = cls.kinds[kind]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ConfigError(
                f"option(s) {unknown} do not apply to {cls.backend} kind {kind!r}; "
                f"it accepts {sorted(allowed) or 'no options'}"
            )

    def _with_fields(self, hits: list[tuple[str, float]]) -> list[SearchHit]:
        fields = self._items.get_many([i for i, _ in hits])
        return [SearchHit(i, float(s), f or {}) for (i, s), f in zip(hits, fields, strict=True)]
