"""The paper's "CLIP-based" baseline: a dual tower (vision tower + text tower), InfoNCE, vectors averaged.

* vision tower: the same small ViT config as the ``small`` architecture, applied per frame (cover image and
  video frames), mean-pooled over patches and frames, projected;
* text tower: all-MiniLM-L6-v2 (pretrained, from the PyPI package) over the formatted text fields,
  mean-pooled, projected;
* an item's vector is the normalised mean of its normalised tower vectors (the usual way CLIP-style systems
  serve multimodal items); audio is not used (CLIP has no audio tower); an item with neither text nor frames
  gets a zero vector;
* trained with symmetric InfoNCE and a learnable logit scale on every source's pairs mixed together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from transformers import AutoConfig, AutoModel, AutoTokenizer

from omnivec.evaluation.baselines.minilm import PACKAGE_MODEL, _texts
from omnivec.inputs import ItemProcessor
from omnivec.model.hf import resolve_pretrained
from omnivec.model.registry import get_architecture

WEIGHTS, CONFIG = "dual_tower.safetensors", "dual_tower.json"


class DualTower(nn.Module):
    def __init__(self, vision_config: dict[str, Any], dim: int = 256, image_size: int = 32, num_frames: int = 4,
                 pretrained_text: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.config = {
            "vision_config": vision_config,
            "dim": dim,
            "image_size": image_size,
            "num_frames": num_frames,
        }
        vcfg = AutoConfig.for_model(**vision_config)
        self.vision = AutoModel.from_config(vcfg, add_pooling_layer=False)
        path = str(resolve_pretrained(PACKAGE_MODEL))
        from transformers.utils import logging as hf_logging

        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            self.text = AutoModel.from_pretrained(path, add_pooling_layer=False) if pretrained_text else \
                AutoModel.from_config(AutoConfig.from_pretrained(path), add_pooling_layer=False)  # fmt: skip
        finally:
            hf_logging.set_verbosity(level)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.v_proj = nn.Linear(vcfg.hidden_size, dim)
        self.t_proj = nn.Linear(self.text.config.hidden_size, dim)
        self.logit_scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)

    def encode_text(self, texts: list[str]) -> Tensor:
        tok = self.tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        h = self.text(**tok).last_hidden_state
        m = tok["attention_mask"].unsqueeze(-1).float()
        return nn.functional.normalize(self.t_proj((h * m).sum(1) / m.sum(1)), dim=-1)

    def encode_frames(self, frames: list[list[np.ndarray]]) -> Tensor:
        flat = [f for fs in frames for f in fs]
        pix = torch.from_numpy(np.stack(flat)).permute(0, 3, 1, 2).float().div(255.0)
        h = self.vision(pixel_values=(pix - self.mean) / self.mean).last_hidden_state.mean(1)
        owner = torch.tensor([i for i, fs in enumerate(frames) for _ in fs])
        sums = torch.zeros(len(frames), h.shape[1]).index_add(0, owner, h)
        counts = torch.bincount(owner, minlength=len(frames)).clamp(min=1).unsqueeze(1)
        return nn.functional.normalize(self.v_proj(sums / counts), dim=-1)

    def forward(self, texts: list[str], frames: list[list[np.ndarray]]) -> Tensor:
        """Average of the available tower vectors per item (zeros when an item has neither)."""
        n = len(texts)
        out = torch.zeros(n, self.config["dim"])
        count = torch.zeros(n, 1)
        t_idx = [i for i, t in enumerate(texts) if t]
        if t_idx:
            out = out.index_add(0, torch.tensor(t_idx), self.encode_text([texts[i] for i in t_idx]))
            count[t_idx] += 1
        v_idx = [i for i, f in enumerate(frames) if f]
        if v_idx:
            out = out.index_add(0, torch.tensor(v_idx), self.encode_frames([frames[i] for i in v_idx]))
            count[v_idx] += 1
        return nn.functional.normalize(out / count.clamp(min=1), dim=-1)


class DualTowerEmbedder:
    name = "clip-dual-tower"

    def __init__(self, model: DualTower, batch_size: int = 32) -> None:
        self.model, self.batch_size = model.eval(), batch_size
        self.processor = ItemProcessor(image_size=model.config["image_size"], num_frames=model.config["num_frames"],
                                       sampling_rate=16000, audio_from_video=False)  # fmt: skip
        self.skipped = 0

    def _frames(self, items: list[dict]) -> list[list[np.ndarray]]:
        from omnivec.errors import ItemError

        out = []
        for i, item in enumerate(items):
            media = {k: v for k, v in item.items() if k in ("image", "images", "video")}
            try:
                out.append(self.processor.decode(media, i).frames if media else [])
            except ItemError:
                self.skipped += 1
                out.append([])
        return out

    def prompt_key(self, task: str, side: str) -> str:
        """No prompts: every (task, side) gives the same vectors, so the corpus is embedded once."""
        return "no-prompt"

    @torch.no_grad()
    def embed(self, items: list[dict], *, task: str, side: str) -> np.ndarray:
        chunks = []
        for s in range(0, len(items), self.batch_size):
            part = items[s : s + self.batch_size]
            chunks.append(self.model(_texts(part), self._frames(part)).numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, self.model.config["dim"]), np.float32)

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_model

        from omnivec.utils.io import atomic_dir

        with atomic_dir(path) as tmp:
            save_model(self.model, str(tmp / WEIGHTS))
            (tmp / CONFIG).write_text(json.dumps(self.model.config))

    @classmethod
    def load(cls, path: str | Path) -> DualTowerEmbedder:
        from safetensors.torch import load_model

        model = DualTower(**json.loads((Path(path) / CONFIG).read_text()), pretrained_text=False)
        load_model(model, str(Path(path) / WEIGHTS))
        return cls(model)


def train_dual_tower(
    data: Any, out_dir: str | Path, *, steps: int = 200, batch_size: int = 32, lr: float = 1e-4, seed: int = 0,
    progress: bool = False,
) -> DualTowerEmbedder:  # fmt: skip
    """Train the dual tower with symmetric InfoNCE on all sources mixed; save it; return the embedder."""
    from tqdm.auto import tqdm

    from omnivec.evaluation.baselines.pairs import all_pairs

    torch.manual_seed(seed)
    vision = get_architecture("small").vision
    assert vision is not None
    vcfg = {"model_type": vision.backbone.model_type, **vision.backbone.config}
    model = DualTower(vcfg, image_size=vision.image_size, num_frames=vision.num_frames)
    emb = DualTowerEmbedder(model)
    pairs = all_pairs(data, seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps))
    )
    model.train()
    for step in tqdm(range(steps), desc="clip-dual-tower", disable=not progress):
        start = (step * batch_size) % max(1, len(pairs) - batch_size)
        batch = pairs[start : start + batch_size]
        qs, ts = [q for q, _ in batch], [t for _, t in batch]
        q = model(_texts(qs), emb._frames(qs))
        t = model(_texts(ts), emb._frames(ts))
        logits = model.logit_scale.exp().clamp(max=100) * q @ t.T
        labels = torch.arange(len(batch))
        loss = (
            nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.T, labels)
        ) / 2
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    emb.model.eval()
    emb.save(out_dir)
    return emb
