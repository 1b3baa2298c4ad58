"""The SAIL training objective over one collated single-source batch.

A batch (built by :class:`omnivec.training.collator.SAILCollator`) holds one packed feature dict per
``side/view`` it needs (``query/omni``, ``target/text``, ...) with the batch rows each covers, plus optional
hard negatives, graded scores and group ids. :class:`SAILObjective`:

1. embeds every view once (dataset-driven pattern matching: each view is encoded once per step however many
   patterns use it, §3.3.4);
2. for every pattern ``(query view → target view)`` of the source, takes the rows that have both views and
   computes the loss on them; rows lacking a modality simply drop out of that pattern;
3. the first pattern is the source's *primary* one: it gets every term of
   ``L = L_nce-mrl + λ·L_cosent + α·L_micl + β·L_lf`` (hard negatives, CoSENT on graded sources, mICL on the
   vision/text views, late fusion); the other patterns add NCE-MRL;
4. reduces over patterns (mean by default, our choice; the paper leaves it open) and logs each pattern's loss.

With ``mini_batch_size`` set it runs GradCache (Gao et al. 2021, as in sentence-transformers'
``CachedMultipleNegativesRankingLoss``): embeddings of the whole batch are computed without a graph in
mini-batches of items (frames and audio chunks sliced with them), the loss is back-propagated to those
embeddings, and during the trainer's ``backward`` each mini-batch is re-run with gradients and back-propagated
with its cached embedding gradient. Memory then scales with the mini-batch, not the batch; the loss and the
gradients equal the uncached ones (random state is replayed so dropout masks match).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from omnivec.model.omni_input import batch_size_of, slice_features
from omnivec.training.losses.total import SAILInputs, SAILLoss


class NegativeQueue(nn.Module):
    """First-in first-out memory of the last ``size`` target embeddings (detached) and their group ids: extra
    seq→item negatives beyond the batch (a cross-batch memory, Wang et al. 2020, "XBM"). A small batch's
    in-batch softmax only has to beat its other B-1 targets, which teaches the coarse region of a user's
    interests; the memory makes each query also beat the last ``size`` targets. The embeddings are a few steps
    old, which stays close while the learning rate is small (CRE fine-tunes). Not saved: a resumed run
    refills it within ``size / B`` steps."""

    def __init__(self, size: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"NegativeQueue: size must be >= 1, got {size}")
        self.size = size
        self.vectors: Tensor | None = None
        self.groups: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.vectors is None else int(self.vectors.shape[0])

    def negatives(self, batch: int) -> dict[str, Tensor]:
        """``hard_negatives`` / ``hard_negative_groups`` arguments of :class:`NCEMRLLoss` for ``batch`` queries
        (every query sees the whole memory; an entry of a query's positive group is masked by the loss)."""
        if self.vectors is None or self.groups is None:
            return {}
        n, d = self.vectors.shape
        return {
            "hard_negatives": self.vectors.unsqueeze(0).expand(batch, n, d),
            "hard_negative_groups": self.groups.unsqueeze(0).expand(batch, n),
        }

    @torch.no_grad()
    def push(self, vectors: Tensor, groups: Tensor) -> None:
        vectors = vectors.detach()
        groups = groups.to(device=vectors.device, dtype=torch.long)
        if self.vectors is not None and self.groups is not None:
            vectors = torch.cat([vectors, self.vectors])
            groups = torch.cat([groups, self.groups])
        self.vectors, self.groups = vectors[: self.size], groups[: self.size]


@contextmanager
def _replay_rng(state: tuple[Tensor, list[Tensor]] | None) -> Iterator[None]:
    if state is None:
        yield
        return
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.set_rng_state(state[0])
        for d, s in zip(devices, state[1], strict=False):
            torch.cuda.set_rng_state(s, d)
        yield


def _rng_state() -> tuple[Tensor, list[Tensor]]:
    cuda = (
        [torch.cuda.get_rng_state(d) for d in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else []
    )
    return torch.get_rng_state(), cuda


def _pick(emb: Tensor, rows: Tensor, wanted: Tensor) -> tuple[Tensor, Tensor]:
    """Rows ``wanted`` of a view embedded for ``rows`` → ([len(wanted), D] zeros where absent, present mask)."""
    pos = torch.full((int(max(rows.max(), wanted.max())) + 1,), -1, dtype=torch.long, device=emb.device)
    pos[rows] = torch.arange(len(rows), device=emb.device)
    idx = pos[wanted]
    present = idx >= 0
    out = torch.zeros(len(wanted), emb.shape[1], dtype=emb.dtype, device=emb.device)
    if present.any():
        out = out.index_put((present.nonzero(as_tuple=True)[0],), emb[idx[present]])
    return out, present


class SAILObjective(nn.Module):
    """Pattern-matched SAIL loss over a collated batch; optionally GradCache-cached."""

    def __init__(
        self,
        model: nn.Module,
        loss: SAILLoss,
        *,
        mini_batch_size: int | None = None,
        pattern_reduction: str = "mean",
        sequence_encoder: nn.Module | None = None,
        sequence_grad: bool = False,
        id_head: nn.Module | None = None,
        id_loss: str = "cosine_mse",
        seq_target_id_weight: float = 0.0,
        negative_queue: int = 0,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        #: CRE (§3.3.5): history embeddings → sequence vector; omni embedding → each ID table's space
        self.sequence_encoder = sequence_encoder
        self.sequence_grad = sequence_grad
        self.id_head = id_head
        self.id_loss = id_loss
        #: seq→item batches that carry ID vectors also distil their targets (one forward serves both)
        self.seq_target_id_weight = seq_target_id_weight
        #: seq→item negatives from earlier steps' targets (0: in-batch only)
        self.queue = NegativeQueue(negative_queue) if negative_queue > 0 else None
        self.mini_batch_size = mini_batch_size
        if pattern_reduction not in ("mean", "sum"):
            raise ValueError(f"pattern_reduction must be 'mean' or 'sum', got {pattern_reduction!r}")
        self.pattern_reduction = pattern_reduction
        #: batches trained per source (counted at the forward pass, so a data loader's look-ahead is not)
        self.source_batches: Counter[str] = Counter()

    # ---------------------------------------------------------------- embed
    def embed(self, features: dict[str, Any]) -> Tensor:
        return self.model(dict(features))["sentence_embedding"]

    def _chunks(self, features: dict[str, Any]) -> list[dict[str, Any]]:
        n = batch_size_of(features)
        step = self.mini_batch_size or n
        return [slice_features(features, s, min(s + step, n)) for s in range(0, n, step)]

    def cre_modules(self) -> dict[str, nn.Module]:
        """The CRE parts trained beside the model (sequence encoder, ID projection head): outside the embedding
        model, so checkpoints save them and distributed runs average their gradients separately."""
        parts = (("sequence_encoder", self.sequence_encoder), ("id_head", self.id_head))
        return {name: module for name, module in parts if module is not None}

    def forward(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        if self.training:
            self.source_batches[batch["source"]] += 1
        if batch.get("kind") == "seq2item":
            return self.seq2item(batch)
        if batch.get("kind") == "id2item":
            return self.id2item(batch)
        keys = list(batch["views"])
        feats = [batch["views"][k]["features"] for k in keys]
        if "negatives" in batch:
            feats.append(batch["negatives"]["features"])
        if not self.mini_batch_size:
            embs = [self.embed(f) for f in feats]
            return self.compute(batch, dict(zip(keys, embs[: len(keys)], strict=True)), embs[len(keys) :])
        return self._cached(batch, keys, feats)

    def _cached(
        self, batch: dict[str, Any], keys: list[str], feats: list[dict[str, Any]]
    ) -> dict[str, Tensor]:
        chunks = [self._chunks(f) for f in feats]
        states: list[list[tuple[Tensor, list[Tensor]]]] = []
        reps: list[Tensor] = []
        with torch.no_grad():
            for view_chunks in chunks:
                view_states, parts = [], []
                for chunk in view_chunks:
                    view_states.append(_rng_state())
                    parts.append(self.embed(chunk))
                states.append(view_states)
                reps.append(torch.cat(parts).detach().requires_grad_())
        out = self.compute(batch, dict(zip(keys, reps[: len(keys)], strict=True)), reps[len(keys) :])
        total = out["loss"]
        total.backward()  # grads into the cached embeddings and the loss's own parameters
        grads = [r.grad if r.grad is not None else torch.zeros_like(r) for r in reps]

        def replay(grad_output: Tensor) -> None:
            with torch.enable_grad():
                for view_chunks, view_states, grad in zip(chunks, states, grads, strict=True):
                    offset = 0
                    for chunk, state in zip(view_chunks, view_states, strict=True):
                        n = batch_size_of(chunk)
                        with _replay_rng(state):
                            emb = self.embed(chunk)
                        surrogate = (emb * grad[offset : offset + n]).sum() * grad_output
                        surrogate.backward()
                        offset += n

        result = {k: v.detach() for k, v in out.items()}
        result["loss"] = total.detach().requires_grad_()
        result["loss"].register_hook(replay)
        return result

    # ------------------------------------------------------------------ CRE
    def seq2item(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Sequence → item: NCE between the encoded history and the target item (in-batch negatives).
        With ``sequence_grad`` off (default, our CPU-budget choice) the history is embedded without a graph:
        the target side learns to sit at its users' interest centre. With ``seq_target_id_weight`` > 0 and ID
        vectors in the batch (a stage that also lists id2item), the targets are distilled onto the ID tables too,
        from the same forward pass."""
        if self.sequence_encoder is None:
            raise ValueError("a seq2item batch needs a sequence encoder (recipe cre.sequence_encoder)")
        if "vectors" in batch["history"]:  # frozen histories (cre.history: frozen): no forward, no graph
            target = self.embed(batch["target"]["features"])
            hist = batch["history"]["vectors"].to(device=target.device, dtype=target.dtype)
        else:
            with torch.set_grad_enabled(self.sequence_grad and torch.is_grad_enabled()):
                hist = self.embed(batch["history"]["features"])
            target = self.embed(batch["target"]["features"])
        index = batch["history"]["index"]
        mask = index >= 0
        seq = self.sequence_encoder(hist[index.clamp(min=0)] * mask.unsqueeze(-1), mask)
        groups = batch.get("target_groups")
        memory = self.queue.negatives(len(target)) if self.queue is not None and groups is not None else {}
        if memory:
            memory["hard_negative_groups"] = memory["hard_negative_groups"].to(groups.device)
        out = self.loss.nce_mrl(seq, target, source=batch["source"], target_groups=groups,
                                target_log_q=batch.get("target_log_q"), **memory)  # fmt: skip
        result = {"loss": out["loss"], "loss/seq2item": out["loss"].detach(),
                  "nce_mrl/temperature": out["temperature"],
                  "seq2item/negatives": out["negatives_per_query"]}  # fmt: skip
        if self.queue is not None and groups is not None and self.training:
            self.queue.push(target, groups)
        if self.seq_target_id_weight > 0 and self.id_head is not None and "id_vectors" in batch:
            id_loss = self.id_head(target, batch["id_vectors"], batch["id_mask"], kind=self.id_loss)
            result["loss"] = result["loss"] + self.seq_target_id_weight * id_loss
            result["loss/seq_target_id"] = id_loss.detach()
        return result

    def id2item(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """ID → item: project the omni embedding into each ID table's space and align (feature distillation)."""
        if self.id_head is None:
            raise ValueError("an id2item batch needs ID tables (recipe cre.id_tables or the ID teacher)")
        emb = self.embed(batch["target"]["features"])
        loss = self.id_head(emb, batch["id_vectors"], batch["id_mask"], kind=self.id_loss)
        return {"loss": loss, "loss/id2item": loss.detach()}

    # ----------------------------------------------------------------- loss
    def compute(
        self, batch: dict[str, Any], embs: dict[str, Tensor], negs: list[Tensor]
    ) -> dict[str, Tensor]:
        """The loss from already-computed view embeddings (``embs[side/view]``) and negative embeddings."""
        source = batch["source"]
        views = batch["views"]
        qg, tg = batch.get("query_groups"), batch.get("target_groups")
        terms: list[Tensor] = []
        logged: dict[str, Tensor] = {}
        for p, (qv, tv) in enumerate(batch["patterns"]):
            qk, tk = f"query/{qv}", f"target/{tv}"
            if qk not in embs or tk not in embs:
                continue
            q_rows, t_rows = views[qk]["rows"], views[tk]["rows"]
            both = q_rows[torch.isin(q_rows, t_rows)]
            if len(both) < 2:
                continue
            q, _ = _pick(embs[qk], q_rows, both)
            t, _ = _pick(embs[tk], t_rows, both)
            inputs = SAILInputs(
                source=source,
                query=q,
                target=t,
                query_groups=qg[both] if qg is not None else None,
                target_groups=tg[both] if tg is not None else None,
            )
            if p == 0:
                self._primary_extras(batch, embs, negs, both, inputs)
            out = self.loss(inputs)
            terms.append(out["loss"])
            logged[f"pattern/{qv}->{tv}"] = out["loss"].detach()
            if p == 0:
                logged.update({k: v.detach() for k, v in out.items() if k != "loss"})
        if not terms:  # nothing trainable in this batch: a zero that still has a graph
            zero = sum(e.sum() for e in embs.values()) * 0.0
            return {"loss": zero}
        stacked = torch.stack(terms)
        logged["loss"] = stacked.mean() if self.pattern_reduction == "mean" else stacked.sum()
        return logged

    def _primary_extras(
        self, batch: dict[str, Any], embs: dict[str, Tensor], negs: list[Tensor], rows: Tensor, x: SAILInputs
    ) -> None:
        """Hard negatives, graded scores and the mICL / late-fusion views, for the primary pattern."""
        views = batch["views"]
        if batch.get("scores") is not None:
            x.scores = batch["scores"][rows]
        if negs and "negatives" in batch:
            neg = batch["negatives"]
            owner, groups = neg["owner"], neg["groups"]
            k = int(torch.bincount(owner).max()) if len(owner) else 0
            if k:
                slot = torch.zeros_like(owner)
                for r in owner.unique():  # position of each negative within its row
                    hit = (owner == r).nonzero(as_tuple=True)[0]
                    slot[hit] = torch.arange(len(hit), device=owner.device)
                pos = torch.full((int(rows.max()) + 1,), -1, dtype=torch.long, device=owner.device)
                pos[rows] = torch.arange(len(rows), device=owner.device)
                keep = (owner <= rows.max()) & (pos[owner.clamp(max=int(rows.max()))] >= 0)
                d = negs[0].shape[1]
                hn = torch.zeros(len(rows), k, d, dtype=negs[0].dtype, device=negs[0].device)
                mask = torch.zeros(len(rows), k, dtype=torch.bool, device=owner.device)
                hg = torch.full((len(rows), k), -1, dtype=torch.long, device=owner.device)
                r_idx, s_idx = pos[owner[keep]], slot[keep]
                hn = hn.index_put((r_idx, s_idx), negs[0][keep])
                mask[r_idx, s_idx] = True
                hg[r_idx, s_idx] = groups[keep]
                x.hard_negatives, x.hard_negative_mask, x.hard_negative_groups = hn, mask, hg
        for side_key, attr in (("query/vision", "q_vision"), ("target/vision", "t_vision"),
                               ("query/text", "q_text"), ("target/text", "t_text")):  # fmt: skip
            if side_key in embs:
                emb, present = _pick(embs[side_key], views[side_key]["rows"], rows)
                setattr(x, attr, emb)
                mask_attr = "vision_mask" if "vision" in side_key else "text_mask"
                prev = getattr(x, mask_attr)
                setattr(x, mask_attr, present if prev is None else prev & present)
