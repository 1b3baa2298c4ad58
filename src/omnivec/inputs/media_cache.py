"""A process-wide cache of decoded media files, so a file read again is not decoded again.

Training, hard-negative mining, balancing and evaluation each walk the same catalogue many times, and for
a small model on a CPU decoding a video or an audio file with PyAV costs about a quarter of a forward pass.
Decoding is deterministic (the random text-field drop of training happens after it), so the frames or the
waveform of a file can be kept and handed out again.

Only **files** are cached: the key is the resolved path with its modification time and size, plus every
setting that shapes the result (image size, frame count, sampling rate, media limits), so a changed file or
a model with other settings decodes afresh. Bytes and data URIs are never kept (a server's payloads are not
remembered). Errors are never cached: a bad file fails, with its item's index, every time it is read.

Cached arrays are read-only; a caller that wants to change one copies it. The cache is a least-recently-used
store bounded in bytes: ``OMNIVEC_MEDIA_CACHE_MB`` (default 1024) at import, or :func:`set_media_cache_size`;
0 turns it off.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

from omnivec.errors import ConfigError
from omnivec.inputs.sources import MediaSource

__all__ = ["MediaCache", "media_cache", "set_media_cache_size"]

T = TypeVar("T")
DEFAULT_MB = 1024


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return 64


def _freeze(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


class MediaCache:
    """LRU of decoded media, bounded by ``max_bytes`` (0: keep nothing). Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self._lock = threading.Lock()
        self._store: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.max_bytes = 0
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.resize(max_bytes)

    def resize(self, max_bytes: int) -> None:
        """Change the bound, evicting the least recently used entries that no longer fit."""
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ConfigError(f"media cache size must be a non-negative number of bytes, got {max_bytes!r}")
        with self._lock:
            self.max_bytes = max_bytes
            self._evict()

    def clear(self) -> None:
        """Drop every entry and zero the hit and miss counts."""
        with self._lock:
            self._store.clear()
            self.bytes = self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def _evict(self) -> None:
        while self._store and self.bytes > self.max_bytes:
            _, (_, size) = self._store.popitem(last=False)
            self.bytes -= size

    def get_or_decode(self, src: MediaSource, kind: str, settings: Hashable, decode: Callable[[], T]) -> T:
        """``decode()``'s result for file source ``src``, from the cache when the same file (same path,
        modification time and size) was decoded with the same ``kind`` and ``settings`` before. Sources
        that are not files, and any call while the cache is off, just decode."""
        if self.max_bytes == 0 or src.path is None:
            return decode()
        try:
            stat = src.path.stat()
        except OSError:
            return decode()  # the decoder reports the missing file with the item's index
        key = (kind, str(src.path), stat.st_mtime_ns, stat.st_size, settings)
        with self._lock:
            entry = self._store.get(key)
            if entry is not None:
                self._store.move_to_end(key)
                self.hits += 1
                return entry[0]
            self.misses += 1
        value = _freeze(decode())
        size = _nbytes(value)
        if size <= self.max_bytes:
            with self._lock:
                if key not in self._store:
                    self._store[key] = (value, size)
                    self.bytes += size
                    self._evict()
        return value

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._store), "bytes": self.bytes, "hits": self.hits, "misses": self.misses}


def _env_bytes() -> int:
    raw = os.environ.get("OMNIVEC_MEDIA_CACHE_MB", str(DEFAULT_MB)).strip()
    try:
        mb = float(raw)
    except ValueError:
        raise ConfigError(f"OMNIVEC_MEDIA_CACHE_MB must be a number of megabytes, got {raw!r}") from None
    if mb < 0:
        raise ConfigError(f"OMNIVEC_MEDIA_CACHE_MB must not be negative, got {raw!r}")
    return int(mb * 1024 * 1024)


#: The cache every :class:`~omnivec.inputs.processor.ItemProcessor` of this process shares.
media_cache = MediaCache(_env_bytes())


def set_media_cache_size(megabytes: float) -> None:
    """Bound the shared cache to ``megabytes`` (0 turns it off and frees it)."""
    if isinstance(megabytes, bool) or not isinstance(megabytes, (int, float)) or megabytes < 0:
        raise ConfigError(f"media cache size must be a non-negative number of megabytes, got {megabytes!r}")
    media_cache.resize(int(megabytes * 1024 * 1024))
