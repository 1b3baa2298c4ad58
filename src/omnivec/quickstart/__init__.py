"""The quickstart main job (the README's first command): see :mod:`omnivec.quickstart.pipeline`."""

from __future__ import annotations

from omnivec.quickstart.pipeline import PROFILES, run_quickstart

__all__ = ["PROFILES", "run_quickstart"]
