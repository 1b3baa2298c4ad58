#!/usr/bin/env python3
"""The two README commands, with their own set-up.

    python3 dev.py quickstart [ARGS...]   # the main job (see README)
    python3 dev.py test [PYTEST ARGS...]  # the whole test suite (what .ci/run calls)

Set-up happens on first use and again only when pyproject.toml changes: a `.venv` next to this file,
torch installed *first* (so pip takes the CPU wheel instead of a multi-GB CUDA build), then omnivec with
its test extras in editable mode. Only the Python standard library is used here.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".omnivec-setup-stamp"
TORCH_SPEC = "torch>=2.4,<2.14"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _setup_key() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def _pip(*args: str) -> None:
    cmd = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.check_call(cmd)


def ensure_env() -> None:
    if STAMP.exists() and STAMP.read_text().strip() == _setup_key():
        return
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    _pip("-q", TORCH_SPEC)
    _pip("-q", "-e", f"{ROOT}[all]")
    STAMP.write_text(_setup_key())


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"quickstart", "test", "setup"}:
        print(__doc__)
        return 2
    ensure_env()
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    cmd, rest = argv[0], argv[1:]
    if cmd == "setup":
        return 0
    if cmd == "quickstart":
        full = [str(BIN / "omnivec"), "quickstart", *rest]
    else:
        full = [str(BIN / "python"), "-m", "pytest", *rest]
    print("+", " ".join(full), flush=True)
    return subprocess.call(full, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
