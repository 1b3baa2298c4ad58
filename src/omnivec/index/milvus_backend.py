"""Milvus backend through ``pymilvus.MilvusClient``: milvus-lite in a local folder, or a Milvus server.

Where the vectors live (``uri`` option):

* none: a milvus-lite database ``milvus.db`` inside the index folder, so the folder is self-contained and
  is swapped atomically like a FAISS index. milvus-lite lets one process open a database at a time.
* a path ending in ``.db``: an external milvus-lite database.
* ``http(s)://host:19530``: a Milvus server. Credentials go in the ``token`` option or the ``MILVUS_TOKEN``
  environment variable and are never written to ``index.json``.

For an external database each build writes a fresh collection ``<collection>_v<n>``; once the index folder
has been swapped in, the alias ``<collection>`` is pointed at it and the collection of the replaced index is
dropped. A build killed half-way leaves the old folder, collection and alias untouched (its half-written
``_v<n>`` collection is reported by the next build, never dropped behind your back). One index folder per
collection name.

Schema: ``id`` VARCHAR primary key (the item id) and ``vector`` FLOAT_VECTOR; item fields stay in the
folder's ``items.parquet``. Kinds map to Milvus index types: ``flat`` → FLAT, ``hnsw`` → HNSW (M,
efConstruction; ``ef`` at search), ``ivfpq`` → IVF_PQ (nlist, m, nbits; ``nprobe`` at search). ``metric``
``ip`` → IP, ``cosine`` → COSINE (the same ranking: vectors are normalised). milvus-lite (3.x) cannot load
IVF_PQ, so ``ivfpq`` needs a Milvus server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from tqdm.auto import tqdm

from omnivec.errors import ConfigError, DataFormatError, OmnivecError
from omnivec.index.milvus_connect import (
    LOCAL_DB,
    MilvusBackendError,
    close_client,
    connect,
    is_lite,
    location,
    pymilvus_module,
    release_lite,
)
from omnivec.index.params import (
    HNSW_OPTIONS,
    IVFPQ_OPTIONS,
    check_int,
    resolve_hnsw,
    resolve_ivfpq,
)
from omnivec.index.protocol import BaseIndex

#: Rows per insert request and queries per search request (under Milvus' gRPC and nq limits).
INSERT_BYTES = 16 << 20
SEARCH_BATCH = 1024
MAX_TOPK = 16384
_INDEX_TYPES = {"flat": "FLAT", "hnsw": "HNSW", "ivfpq": "IVF_PQ"}
_METRICS = {"ip": "IP", "cosine": "COSINE"}
#: Kinds milvus-lite accepts at build but refuses to load ("IVF_PQ is reserved for a future phase").
_NOT_IN_LITE = frozenset({"ivfpq"})


class MilvusIndex(BaseIndex):
    """An index whose vectors live in a Milvus collection."""

    backend: ClassVar[str] = "milvus"
    kinds: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "flat": (),
        "hnsw": HNSW_OPTIONS,
        "ivfpq": IVFPQ_OPTIONS,
    }
    search_options: ClassVar[tuple[str, ...]] = ("ef_search", "nprobe")
    connection_options: ClassVar[tuple[str, ...]] = ("uri", "collection", "token")

    def __init__(self, path: Path, info: dict[str, Any], ids: Sequence[str], client: Any, uri: str) -> None:
        super().__init__(path, info, ids)
        self._client = client
        self._uri = uri
        self._collection: str = info["milvus"]["physical_collection"]

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
            return resolve_ivfpq(n, dim, options, notes), notes
        return {}, notes

    @staticmethod
    def _index_params(kind: str, opts: Mapping[str, Any]) -> dict[str, Any]:
        if kind == "hnsw":
            return {"M": opts["hnsw_m"], "efConstruction": opts["ef_construction"]}
        if kind == "ivfpq":
            return {"nlist": opts["nlist"], "m": opts["pq_m"], "nbits": opts["nbits"]}
        return {}

    @staticmethod
    def _search_params(kind: str, opts: Mapping[str, Any], k: int) -> dict[str, Any]:
        if kind == "hnsw":
            return {"ef": max(int(opts["ef_search"]), k)}
        if kind == "ivfpq":
            return {"nprobe": int(opts["nprobe"])}
        return {}

    # ----------------------------------------------------------- location
    @classmethod
    def check_connection(cls, kind: str, connection: Mapping[str, Any]) -> None:
        entry, uri = location(connection, Path("."))
        if is_lite(uri) and kind in _NOT_IN_LITE:
            where = "the index folder's milvus.db" if entry["local"] else uri
            raise ConfigError(
                f"milvus-lite ({where}) cannot load kind {kind!r} ({_INDEX_TYPES[kind]}); "
                "use a Milvus server uri, another kind, or backend 'faiss'"
            )

    @staticmethod
    def _connect_uri(folder: Path, entry: Mapping[str, Any]) -> str:
        return str(folder / entry["uri"]) if entry.get("local") else str(entry["uri"])

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
    ) -> MilvusIndex:
        """Create a collection, insert ``vectors`` keyed by ``ids``, build the index and load it."""
        pymilvus = pymilvus_module()
        connection = connection or {}
        cls.check_connection(info["kind"], connection)
        entry, uri = location(connection, folder)
        client = connect(uri, connection.get("token"))
        alias = entry["collection"]
        physical = alias
        created = False
        try:
            if not entry["local"]:
                physical, stale = cls._next_version(client, alias, previous)
                if stale:
                    info.setdefault("notes", []).append(
                        f"collections {stale} on {uri} look like interrupted builds of {alias!r}; "
                        "drop them with MilvusClient.drop_collection when no build is running"
                    )
            entry["physical_collection"] = physical
            info["milvus"] = entry
            longest = max((len(i.encode()) for i in ids), default=1)
            if longest > 65535:
                raise DataFormatError(f"item ids must be at most 65535 bytes for Milvus, got {longest}")
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", pymilvus.DataType.VARCHAR, is_primary=True, max_length=max(64, longest))
            schema.add_field("vector", pymilvus.DataType.FLOAT_VECTOR, dim=int(info["dim"]))
            params = client.prepare_index_params()
            params.add_index(
                field_name="vector",
                index_type=_INDEX_TYPES[info["kind"]],
                metric_type=_METRICS[info["metric"]],
                params=cls._index_params(info["kind"], info["options"]),
            )
            client.create_collection(physical, schema=schema, index_params=params, consistency_level="Strong")
            created = True
            batch = max(1, min(10_000, INSERT_BYTES // (4 * int(info["dim"]))))
            with tqdm(
                total=len(ids), desc=f"Inserting into {physical}", unit="vec", disable=not progress
            ) as bar:
                for start in range(0, len(ids), batch):
                    rows = vectors[start : start + batch].tolist()
                    pairs = zip(ids[start : start + batch], rows, strict=True)
                    client.insert(physical, [{"id": i, "vector": v} for i, v in pairs])
                    bar.update(len(rows))
            client.flush(physical)
            client.load_collection(physical)
        except BaseException as exc:
            if created:
                cls._drop_quietly(client, physical)
            close_client(client, uri)
            if isinstance(exc, Exception) and not isinstance(exc, OmnivecError):
                raise MilvusBackendError(
                    f"Milvus build of collection {physical!r} at {uri!r} failed: {exc}"
                ) from exc
            raise
        return cls(folder, info, ids, client, uri)

    @staticmethod
    def _next_version(client: Any, alias: str, previous: Mapping[str, Any] | None) -> tuple[str, list[str]]:
        """The next ``<alias>_v<n>`` name, and the versions neither aliased nor used by the old index."""
        existing = list(client.list_collections())
        pattern = re.compile(rf"^{re.escape(alias)}_v(\d+)$")
        versions = {name: int(m.group(1)) for name in existing if (m := pattern.match(name))}
        target = None
        try:
            target = client.describe_alias(alias).get("collection_name")
        except Exception:
            if alias in existing:
                raise ConfigError(
                    f"a Milvus collection named {alias!r} already exists and is not an omnivec alias; "
                    "choose another collection name or drop it"
                ) from None
        keep = {target, (previous or {}).get("milvus", {}).get("physical_collection")}
        stale = sorted(name for name in versions if name not in keep)
        return f"{alias}_v{max(versions.values(), default=0) + 1}", stale

    @classmethod
    def finalize(cls, folder: Path, info: Mapping[str, Any], previous: Mapping[str, Any] | None) -> None:
        """After the folder swap: point the alias at the new collection and drop the replaced one."""
        entry = info["milvus"]
        if entry.get("local"):
            # a server this process kept for the replaced folder would serve stale data at the same path
            release_lite(str(folder / LOCAL_DB))
            return
        uri = cls._connect_uri(folder, entry)
        client = connect(uri)
        try:
            alias, physical = entry["collection"], entry["physical_collection"]
            try:
                client.describe_alias(alias)
                client.alter_alias(physical, alias)
            except Exception:
                client.create_alias(physical, alias)
            old = (previous or {}).get("milvus") or {}
            if (
                old.get("uri") == entry["uri"]
                and not old.get("local")
                and old.get("physical_collection") not in (None, physical)
            ):
                cls._drop_quietly(client, old["physical_collection"])
        finally:
            close_client(client, uri)

    @classmethod
    def open(cls, folder: Path, info: dict[str, Any], ids: Sequence[str], **overrides: Any) -> MilvusIndex:
        token = overrides.pop("token", None)
        bad = sorted(set(overrides) - {o for o in cls.search_options if o in cls.kinds[info["kind"]]})
        if bad:
            raise ConfigError(f"search option(s) {bad} do not apply to milvus kind {info['kind']!r}")
        checked = {name: check_int(overrides, name, 1) for name in overrides}
        entry = info.get("milvus")
        if not entry or "physical_collection" not in entry:
            raise DataFormatError(f"{folder}/index.json: missing the 'milvus' entry (uri, collection)")
        uri = cls._connect_uri(folder, entry)
        if entry.get("local") and not Path(uri).exists():
            raise DataFormatError(f"index folder {folder}: missing the milvus-lite database {LOCAL_DB}")
        client = connect(uri, token)
        try:
            if not client.has_collection(entry["physical_collection"]):
                raise DataFormatError(
                    f"Milvus at {uri!r} has no collection {entry['physical_collection']!r} "
                    f"(index folder {folder}); was it dropped? rebuild the index"
                )
            client.load_collection(entry["physical_collection"])
        except BaseException:
            close_client(client, uri)
            raise
        info = {**info, "options": {**info["options"], **checked}}
        return cls(folder, info, ids, client, uri)

    # ------------------------------------------------------------- search
    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        if self._client is None:
            raise ConfigError(f"Milvus index {self.path} is closed")
        if k > MAX_TOPK:
            raise ConfigError(f"Milvus returns at most {MAX_TOPK} results per query, asked for k={k}")
        search_params = {
            "metric_type": _METRICS[self.info["metric"]],
            "params": self._search_params(self.info["kind"], self.info["options"], k),
        }
        out: list[list[tuple[str, float]]] = []
        for start in range(0, len(queries), SEARCH_BATCH):
            batch = queries[start : start + SEARCH_BATCH].tolist()
            try:
                result = self._client.search(
                    self._collection, data=batch, limit=k, search_params=search_params, output_fields=["id"]
                )
            except Exception as exc:
                raise MilvusBackendError(
                    f"Milvus search in collection {self._collection!r} at {self._uri!r} failed: {exc}"
                ) from None
            out.extend([(str(hit["id"]), float(hit["distance"])) for hit in hits] for hits in result)
        return out

    # ------------------------------------------------------------ cleanup
    def close(self) -> None:
        if self._client is not None:
            close_client(self._client, self._uri)
            self._client = None

    def destroy(self) -> None:
        if self._client is not None:
            self._drop_quietly(self._client, self._collection)
        self.close()

    @staticmethod
    def _drop_quietly(client: Any, name: str) -> None:
        try:
            if client.has_collection(name):
                client.drop_collection(name)
        except Exception:
            pass
