"""Server test helpers: a fake index (the ``omnivec.index`` protocol), media factories, a live uvicorn server
on 127.0.0.1, a deliberately slow model, and the Chromium installer/skipper for the browser test."""

from __future__ import annotations

import base64
import io
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# ---------------------------------------------------------------------------- media
def png_bytes(color: tuple[int, int, int] = (200, 80, 40), size: tuple[int, int] = (48, 36)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def wav_bytes(seconds: float = 1.0, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


def mp4_bytes(n_frames: int = 4, size: int = 32) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=4)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(n_frames):
            frame = np.full((size, size, 3), 30 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


@pytest.fixture
def media() -> SimpleNamespace:
    """Media factories for test modules (conftest helpers are not importable by name)."""
    return SimpleNamespace(png=png_bytes, wav=wav_bytes, mp4=mp4_bytes, uri=data_uri)


# ----------------------------------------------------------------------- fake index
@dataclass
class FakeHit:
    """Same fields as ``omnivec.index.SearchHit``."""

    id: str
    score: float
    fields: dict[str, Any]


@dataclass
class FakeIndex:
    """Brute-force cosine index implementing the ``omnivec.index`` protocol the server uses."""

    ids: list[str]
    vectors: np.ndarray  # [N, dim], L2-normalised
    items: dict[str, dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)
    searches: int = 0

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def size(self) -> int:
        return len(self.ids)

    def search(self, queries: np.ndarray, k: int) -> list[list[FakeHit]]:
        self.searches += 1
        q = np.asarray(queries, dtype=np.float32)[:, : self.dim]
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        scores = q @ self.vectors.T
        out = []
        for row in scores:
            top = np.argsort(-row, kind="stable")[:k]
            out.append([FakeHit(self.ids[i], float(row[i]), dict(self.items[self.ids[i]])) for i in top])
        return out

    def item(self, item_id: str) -> dict[str, Any] | None:
        item = self.items.get(item_id)
        return dict(item) if item is not None else None


#: The catalogue of the fake index: text fields + media paths relative to the media root.
CATALOGUE: dict[str, dict[str, Any]] = {
    "beach": {"title": "sunset over the beach", "tags": ["travel", "beach"], "image": "covers/beach.png"},
    "pasta": {"title": "fresh pasta recipe", "nickname": "chef anna", "image": "covers/pasta.png"},
    "guitar": {"title": "guitar lesson for beginners", "video": "clips/guitar.mp4"},
    "news": {"title": "city news tonight", "tags": ["news"]},
    "dog": {"title": "dogs playing in the park", "images": ["covers/dog.png"]},
    "escape": {"title": "cover outside the media root", "image": "../secret.png"},
    "link": {"title": "cover symlinked out of the media root", "image": "covers/link.png"},
}
INDEX_TASK = "q2i"


def text_of(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in ("title", "tags", "nickname")}


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A media root holding the catalogue's covers, plus a file outside it and a symlink escaping it."""
    base = tmp_path_factory.mktemp("serve-media")
    root = base / "media"
    (root / "covers").mkdir(parents=True)
    (root / "clips").mkdir()
    (root / "covers" / "beach.png").write_bytes(png_bytes((250, 150, 40), (64, 40)))
    (root / "covers" / "pasta.png").write_bytes(png_bytes((200, 30, 30), (40, 64)))
    (root / "covers" / "dog.png").write_bytes(png_bytes((90, 160, 60)))
    (root / "clips" / "guitar.mp4").write_bytes(mp4_bytes())
    (base / "secret.png").write_bytes(png_bytes((0, 0, 0)))
    os.symlink(base / "secret.png", root / "covers" / "link.png")
    return root


@pytest.fixture(scope="session")
def fake_index(tiny_model: Any) -> FakeIndex:
    """The catalogue embedded from its text fields with the query prompt of ``INDEX_TASK``, truncated to 16
    dims (so a query with an item's exact text finds that item with score 1)."""
    ids = list(CATALOGUE)
    emb = tiny_model.encode(
        [text_of(CATALOGUE[i]) for i in ids], task=INDEX_TASK, side="query", dimensions=16
    )
    return FakeIndex(ids=ids, vectors=np.asarray(emb, np.float32), items=CATALOGUE, info={"task": INDEX_TASK})


# ------------------------------------------------------------------------ test client
MODEL_NAME = "omnivec-tiny"


@pytest.fixture
def make_client(tiny_model: Any) -> Iterator[Callable[..., Any]]:
    """Factory: ``make_client(model=None, index=None, **settings)`` → a started ``TestClient``."""
    from fastapi.testclient import TestClient

    from omnivec.serve import ServeSettings, create_app

    with ExitStack() as stack:

        def make(model: Any = None, index: Any = None, **settings: Any) -> Any:
            settings.setdefault("model_name", MODEL_NAME)
            app = create_app(model or tiny_model, index=index, settings=ServeSettings(**settings))
            return stack.enter_context(TestClient(app, raise_server_exceptions=False))

        yield make


# ---------------------------------------------------------------------- live server
class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app: Any, graceful_timeout: float = 15.0) -> None:
        import uvicorn

        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=graceful_timeout
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Graceful shutdown (in-flight requests finish, the batcher drains); fails if it hangs."""
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()
        assert not self.thread.is_alive(), "the live server did not shut down"

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            self.stop()


@pytest.fixture
def live_server() -> Iterator[Callable[[Any], LiveServer]]:
    """Factory: ``live_server(app)`` starts a server; every one is stopped at teardown."""
    servers: list[LiveServer] = []

    def start(app: Any) -> LiveServer:
        server = LiveServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.thread.is_alive():
            server.stop()


# ------------------------------------------------------------------------ slow model
@pytest.fixture
def slow_model() -> Callable[[float], Any]:
    """Factory: a fresh tiny model whose every forward pass sleeps ``delay`` seconds first."""
    import omnivec

    def make(delay: float) -> Any:
        model = omnivec.build("tiny", seed=0)
        model.eval()
        original = model.encode_items

        def slow_encode_items(*args: Any, **kwargs: Any) -> Any:
            time.sleep(delay)
            return original(*args, **kwargs)

        model.encode_items = slow_encode_items
        return model

    return make


# ---------------------------------------------------------------------------- chromium
def ensure_chromium() -> str:
    """Path of a headless-capable Chromium and Playwright, installing the Debian ``chromium`` package when
    it is missing and this is root with apt; otherwise skip the test with the reason."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the Python package 'playwright' is not installed (pip install playwright)")
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} is missing and apt-get as root is not available to install 'chromium'")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run([apt, "update"], check=True, capture_output=True, timeout=300, env=env)
        subprocess.run(
            [apt, "install", "-y", "--no-install-recommends", "chromium"],
            check=True, capture_output=True, timeout=600, env=env,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"could not install chromium with apt-get: {exc}")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


@pytest.fixture
def chromium() -> SimpleNamespace:
    """``.path`` and ``.args`` of the headless Chromium (installed if needed; the test skips if impossible)."""
    return SimpleNamespace(path=ensure_chromium(), args=list(CHROMIUM_ARGS))


@pytest.fixture(scope="module")
def lexical_index(tiny_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """:func:`build_text_index`, once per test module."""
    from serve_helpers import build_text_index

    return build_text_index(tiny_model, tmp_path_factory.mktemp("text-index") / "idx")
