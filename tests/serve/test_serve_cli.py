"""``omnivec serve`` end to end: a saved model served by the CLI command in a subprocess on 127.0.0.1,
answering with the right vectors, and exiting cleanly on SIGTERM (graceful drain)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

LAUNCH = (
    "import sys, typer; from omnivec.cli.serve import serve; sys.argv[0] = 'omnivec-serve'; typer.run(serve)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_help_is_fast_and_lazy():
    r = subprocess.run([sys.executable, "-c", LAUNCH, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for option in (
        "--model",
        "--index",
        "--host",
        "--port",
        "--api-key",
        "--media-root",
        "--max-queue-items",
    ):
        assert option in r.stdout
    probe = "import sys, omnivec.cli.serve; print('torch' in sys.modules, 'fastapi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60).stdout
    assert out.split() == ["False", "False"]


def test_serve_wires_settings_model_and_uvicorn(tiny_model, tmp_path, monkeypatch, media_root):
    import typer
    import uvicorn
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from omnivec.cli.serve import serve

    model_dir = tmp_path / "my-model"
    tiny_model.save(str(model_dir))
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    app = typer.Typer()
    app.command()(serve)
    args = ["--model", str(model_dir), "--port", "9123", "--api-key", "a", "--api-key", "b,c",
            "--media-root", str(media_root), "--max-queue-items", "100", "--max-batch-items", "8",
            "--request-timeout", "5", "--max-body-mb", "1"]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"OMNIVEC_API_KEYS": ""})
    assert result.exit_code == 0, result.output
    served, kwargs = calls[0]
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 9123
    settings = served.state.omnivec.settings
    assert settings.model_name == "my-model" and settings.api_keys == ("a", "b", "c")
    assert settings.media_root == media_root.resolve()
    assert (settings.max_queue_items, settings.max_batch_items, settings.request_timeout_s) == (100, 8, 5.0)
    assert settings.max_body_bytes == 1024 * 1024
    with TestClient(served) as client:
        r = client.post("/v1/embeddings", json={"input": "hello", "model": "my-model"},
                        headers={"Authorization": "Bearer c"})  # fmt: skip
        assert r.status_code == 200
        np.testing.assert_allclose(r.json()["data"][0]["embedding"], tiny_model.encode("hello"), atol=1e-5)


@pytest.mark.slow
def test_serve_a_saved_model_then_sigterm(tiny_model, tmp_path):
    model_dir = tmp_path / "my-model"
    tiny_model.save(str(model_dir))
    port = _free_port()
    env = {**os.environ, "OMNIVEC_API_KEYS": "k1,k2", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    args = ["--model", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        r = httpx.post(f"{url}/v1/embeddings", json={"input": ["hello"], "model": "my-model"},
                       headers={"Authorization": "Bearer k2"}, timeout=20)  # fmt: skip
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["data"][0]["embedding"], tiny_model.encode("hello"), atol=1e-5)
        assert httpx.post(f"{url}/v1/embeddings", json={"input": "x"}, timeout=5).status_code == 401
        assert httpx.post(f"{url}/v1/search", json={"query": "x"}, headers={"Authorization": "Bearer k1"},
                          timeout=5).json()["error"]["code"] == "index_not_loaded"  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        # uvicorn shuts down gracefully, then re-raises the signal: exit status 0 or -SIGTERM
        assert proc.returncode in (0, -signal.SIGTERM), out
        assert "serving my-model on http://127.0.0.1" in out
        assert "Application shutdown complete" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_bad_settings_are_a_config_error(tmp_path):
    import typer
    from typer.testing import CliRunner

    from omnivec.cli.serve import serve
    from omnivec.errors import ConfigError

    app = typer.Typer()
    app.command()(serve)
    result = CliRunner().invoke(app, ["--model", str(tmp_path), "--media-root", str(tmp_path / "missing")])
    assert isinstance(result.exception, ConfigError), result.output
    assert "media_root" in str(result.exception)


@pytest.mark.parametrize("flag", ["--max-queue-items", "--max-batch-items"])
def test_non_positive_budgets_are_refused(tmp_path, flag):
    import typer
    from typer.testing import CliRunner

    from omnivec.cli.serve import serve
    from omnivec.errors import ConfigError

    app = typer.Typer()
    app.command()(serve)
    result = CliRunner().invoke(app, ["--model", str(tmp_path), flag, "0"])
    assert isinstance(result.exception, ConfigError)
