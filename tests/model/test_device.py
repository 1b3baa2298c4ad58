"""Device choice: ``auto`` picks CUDA, then MPS, then the CPU; explicit names are checked before a model exists."""

from __future__ import annotations

import pytest
import torch

import omnivec
from omnivec.errors import ConfigError
from omnivec.utils.device import resolve_device


def _machine(monkeypatch, *, cuda: int = 0, mps: bool = False) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr("omnivec.utils.device._mps_available", lambda: mps)


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"), [(0, False, "cpu"), (1, False, "cuda"), (0, True, "mps"), (2, True, "cuda")]
)
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    _machine(monkeypatch, cuda=cuda, mps=mps)
    assert resolve_device("auto") == expected
    assert resolve_device(None) == expected
    assert resolve_device(" AUTO ") == expected


def test_explicit_devices_are_checked_against_the_machine(monkeypatch):
    _machine(monkeypatch, cuda=2)
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ConfigError, match=r"--device: 'cuda:2' asked for, but this machine has 2 CUDA GPU"):
        resolve_device("cuda:2", setting="--device")
    _machine(monkeypatch, cuda=0)
    with pytest.raises(ConfigError, match="device: 'cuda' asked for, but torch sees no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="no Apple MPS"):
        resolve_device("mps")
    with pytest.raises(ConfigError, match=r"'gpu' is not a device \(auto, cpu, cuda, cuda:N or mps\)"):
        resolve_device("gpu")


def test_load_places_the_model_where_asked(tmp_path, tiny_model):
    tiny_model.save(str(tmp_path / "m"))
    assert omnivec.load(tmp_path / "m", device="cpu").device.type == "cpu"
    assert omnivec.load(tmp_path / "m").device.type == resolve_device("auto").split(":")[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cli_device_error_is_one_line_naming_the_option(tmp_path, tiny_model):
    import subprocess
    import sys

    tiny_model.save(str(tmp_path / "m"))
    (tmp_path / "items.jsonl").write_text('{"item_id": "a", "title": "x"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "omnivec.cli.app", "embed", "--model", str(tmp_path / "m"),
         "--items", str(tmp_path / "items.jsonl"), "--out", str(tmp_path / "e.parquet"), "--device", "cuda"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "--device: 'cuda' asked for, but torch sees no CUDA GPU" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "e.parquet").exists()


def test_build_stays_on_the_cpu_unless_asked():
    """A fresh model is for training (the trainer places it); ``auto`` opts into the best device."""
    assert omnivec.build("tiny").device.type == "cpu"
    assert omnivec.build("tiny", device="auto").device.type == resolve_device("auto").split(":")[0]
