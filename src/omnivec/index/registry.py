"""The backend registry: backend name → index class. Add a backend here, nowhere else."""

from __future__ import annotations

from omnivec.errors import ConfigError
from omnivec.index.faiss_backend import FaissIndex
from omnivec.index.milvus_backend import MilvusIndex
from omnivec.index.protocol import BaseIndex

BACKENDS: dict[str, type[BaseIndex]] = {
    FaissIndex.backend: FaissIndex,
    MilvusIndex.backend: MilvusIndex,
}


def get_backend(name: str) -> type[BaseIndex]:
    """The index class registered as ``name``; :class:`ConfigError` listing the known ones otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown index backend {name!r}; expected one of {sorted(BACKENDS)}") from None
