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
