"""A failed or killed build leaves the previous index intact, and its leftovers are cleaned up."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import omnivec.index.faiss_backend as faiss_backend
from omnivec.index import build_index, open_index
from omnivec.index.build import remove_stale_builds


def _snapshot(folder):
    """Every file under ``folder`` (the lexical/ subfolder included) → its hash."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _siblings(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


@pytest.fixture
def old_index(tmp_path):
    x = np.random.default_rng(0).standard_normal((200, 16)).astype(np.float32)
    ids = [f"old{i}" for i in range(200)]
    build_index(x, ids, tmp_path / "idx", kind="hnsw", items=[{"item_id": "old1", "title": "old"}])
    return x, tmp_path / "idx"


def test_writer_failing_mid_build_keeps_the_old_index(tmp_path, old_index, monkeypatch):
    x, idx = old_index
    before = _snapshot(idx)

    def broken_write(index, path):
        path.write_bytes(b"half a faiss file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(faiss_backend, "write_faiss_index", broken_write)
    new = np.random.default_rng(1).standard_normal((50, 16)).astype(np.float32)
    with pytest.raises(RuntimeError, match="disk full"):
        build_index(new, [f"new{i}" for i in range(50)], idx, kind="flat")
    assert _snapshot(idx) == before
    assert _siblings(tmp_path) == ["idx"], "no temporary folder or half file left behind"
    index = open_index(idx)
    assert index.size == 200 and index.search(x[:1], 1)[0][0].id == "old0"


def test_killed_build_keeps_the_old_index_and_the_next_build_cleans_up(tmp_path, old_index):
    x, idx = old_index
    before = _snapshot(idx)
    script = textwrap.dedent(
        f"""
        import os, signal
        import numpy as np
        import omnivec.index.faiss_backend as fb
        from omnivec.index import build_index

        def dying_write(index, path):
            path.write_bytes(b"half a faiss file")
            os.kill(os.getpid(), signal.SIGKILL)

        fb.write_faiss_index = dying_write
        x = np.random.default_rng(1).standard_normal((50, 16)).astype(np.float32)
        build_index(x, [f"new{{i}}" for i in range(50)], {str(idx)!r}, kind="flat")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert _snapshot(idx) == before
    leftovers = [p for p in tmp_path.iterdir() if p.name != "idx"]
    assert (
        len(leftovers) == 1 and leftovers[0].name.startswith(".idx.") and leftovers[0].name.endswith(".tmp")
    )
    assert (leftovers[0] / "index.faiss").read_bytes() == b"half a faiss file"  # never seen by readers
    index = open_index(idx)
    assert index.size == 200 and index.item("old1") == {"title": "old"}

    # the next build removes the dead build's folder (a live builder's folder would be kept)
    build_index(x[:10], [f"n{i}" for i in range(10)], idx, kind="flat")
    assert _siblings(tmp_path) == ["idx"] and open_index(idx).size == 10


def test_build_killed_between_the_two_renames_is_recovered(tmp_path, old_index):
    _, idx = old_index
    before = _snapshot(idx)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    moved = tmp_path / f".idx.old-{int(dead.stdout)}"
    os.replace(idx, moved)  # what a kill between `target -> old` and `tmp -> target` leaves
    assert remove_stale_builds(idx) == [] and _snapshot(idx) == before
    assert _siblings(tmp_path) == ["idx"]


def test_running_builds_are_left_alone(tmp_path, old_index):
    _, idx = old_index
    live = tmp_path / ".idx.abc123.tmp"
    live.mkdir()
    (live / ".omnivec-build").write_text(str(os.getpid()))
    other = tmp_path / ".idx2.zzz.tmp"  # another index's temporary folder
    other.mkdir()
    (other / ".omnivec-build").write_text("999999999")
    assert remove_stale_builds(idx) == []
    assert live.exists() and other.exists()
