from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model():
    import omnivec

    model = omnivec.build("tiny", seed=0)
    model.eval()
    return model


@pytest.fixture(scope="session")
def qwen_tiny_model():
    import omnivec

    model = omnivec.build("sail-qwen-tiny", seed=0)
    model.eval()
    return model


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    from omnivec.world import make_world

    path = tmp_path_factory.mktemp("world") / "tiny"
    make_world(path, size="tiny", seed=0, progress=False)
    return path
