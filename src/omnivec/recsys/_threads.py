"""Thread limits for small numeric jobs (k-means, gradient boosting, tiny torch models).

OpenMP / BLAS thread pools cost more than they give on problems of a few thousand rows, and on a busy
machine their spin-waiting can make a sub-second fit take a minute. Jobs below ``SMALL`` rows run on one
thread; larger ones keep the library defaults.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

SMALL = 50_000


@contextlib.contextmanager
def limit_threads(n_rows: int, small: int = SMALL) -> Iterator[None]:
    """One BLAS/OpenMP thread while fitting on fewer than ``small`` rows."""
    if n_rows >= small:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield
