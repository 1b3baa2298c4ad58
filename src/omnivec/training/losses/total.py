"""The SAIL total objective ``L = L_nce-mrl + λ·L_cosent + α·L_micl + β·L_lf`` (SAIL-Embedding eq. 6).

``combine_losses`` is the weighting rule alone; :class:`SAILLoss` owns the four loss modules and
computes only the enabled, applicable terms from one bundle of embeddings (:class:`SAILInputs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import Tensor, nn

from omnivec.errors import ConfigError
from omnivec.training.losses.cosent import CoSENTLoss
from omnivec.training.losses.late_fusion import LateFusionLoss
from omnivec.training.losses.micl import MICLLoss
from omnivec.training.losses.nce_mrl import NCEMRLLoss

__all__ = ["TERMS", "SAILInputs", "SAILLoss", "combine_losses"]

TERMS = ("nce_mrl", "cosent", "micl", "late_fusion")
"""Term names, in summation order. Their weights: 1 (configurable), λ, α, β."""

Term = Tensor | Callable[[], Tensor] | None


def _check_weights(weights: Mapping[str, float | None]) -> None:
    unknown = sorted(set(weights) - set(TERMS))
    if unknown:
        raise ConfigError(f"loss weights: unknown term(s) {unknown}; known terms are {list(TERMS)}")
    for name, w in weights.items():
        if w is not None and not (isinstance(w, int | float) and w >= 0):
            raise ConfigError(f"loss weights.{name}: must be a number >= 0 or null, got {w!r}")


def combine_losses(
    terms: Mapping[str, Term], weights: Mapping[str, float | None]
) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted sum of the enabled loss terms.

    Args:
        terms: term name (one of :data:`TERMS`) → a scalar tensor, a zero-argument callable returning
            one (evaluated only when the term is enabled: a disabled term is never computed), or
            ``None`` (not applicable to this batch).
        weights: term name → weight. ``nce_mrl`` defaults to 1; every other term present in ``terms``
            must have a weight. Weight ``0`` or ``None`` disables a term.

    Returns:
        ``(total, logged)``: ``total`` sums ``w·term`` over enabled terms in :data:`TERMS` order — a
        disabled term adds exactly nothing (it is skipped, not multiplied by 0) and a weight of 1 is
        not multiplied at all, so NCE alone is bitwise the NCE value. ``logged`` holds ``loss`` and the
        unweighted value of every computed term as ``loss/<name>``, detached.
    """
    _check_weights(weights)
    unknown = sorted(set(terms) - set(TERMS))
    if unknown:
        raise ConfigError(f"loss terms: unknown term(s) {unknown}; known terms are {list(TERMS)}")
    total: Tensor | None = None
    logged: dict[str, Tensor] = {}
    for name in TERMS:
        term = terms.get(name)
        if term is None:
            continue
        if name not in weights and name != "nce_mrl":
            raise ConfigError(f"loss weights.{name}: no weight given for a term that is present")
        w = weights.get(name, 1.0)
        if not w:
            continue
        value = term() if callable(term) else term
        if value is None:
            continue
        logged[f"loss/{name}"] = value.detach()
        contribution = value if w == 1 else value * w
        total = contribution if total is None else total + contribution
    if total is None:
        raise ConfigError(
            f"loss weights: no loss term is both enabled and applicable (terms given: "
            f"{sorted(k for k, v in terms.items() if v is not None)}, weights: {dict(weights)})"
        )
    logged["loss"] = total.detach()
    return total, logged


@dataclass
class SAILInputs:
    """The embeddings of one (single-source) batch, as the losses need them. All tensors ``[B, ...]``.

    ``query``/``target`` are the full omni-modal embeddings (NCE-MRL, CoSENT, and ``m`` of late
    fusion); ``q_vision``/``t_vision`` and ``q_text``/``t_text`` the vision-only and text-only views
    (mICL; the vision views are also ``v`` of late fusion). ``scores`` are CoSENT's graded labels.
    """

    source: str
    query: Tensor | None = None
    target: Tensor | None = None
    hard_negatives: Tensor | None = None
    hard_negative_mask: Tensor | None = None
    query_groups: Tensor | None = None
    target_groups: Tensor | None = None
    hard_negative_groups: Tensor | None = None
    scores: Tensor | None = None
    q_vision: Tensor | None = None
    t_vision: Tensor | None = None
    q_text: Tensor | None = None
    t_text: Tensor | None = None
    vision_mask: Tensor | None = None
    text_mask: Tensor | None = None


class SAILLoss(nn.Module):
    r"""``L = w_nce·L_nce-mrl + λ·L_cosent + α·L_micl + β·L_lf`` over one batch of embeddings.

    A term is computed only when its weight is non-zero **and** the batch carries its inputs (CoSENT
    needs ``scores``; mICL needs the four vision/text views; late fusion needs the vision views and the
    omni embeddings), so a source without graded labels simply has no CoSENT term. Disabled terms
    never run, so their modules' parameters get no gradient (``grad is None``).

    Args:
        nce_mrl, cosent, micl, late_fusion: the loss modules (``None`` = not available; its weight
            must then be 0).
        weights: ``{"nce_mrl": 1.0, "cosent": λ, "micl": α, "late_fusion": β}``; missing entries are
            ``1.0`` for ``nce_mrl`` and ``0`` otherwise. The paper gives no values (``papers.md`` §4.4).

    ``forward`` returns ``combine_losses``'s logged dict plus ``loss`` (with gradient) and NCE-MRL's
    diagnostics under ``nce_mrl/...``.
    """

    def __init__(
        self,
        nce_mrl: NCEMRLLoss | None,
        cosent: CoSENTLoss | None = None,
        micl: MICLLoss | None = None,
        late_fusion: LateFusionLoss | None = None,
        weights: Mapping[str, float | None] | None = None,
    ) -> None:
        super().__init__()
        self.nce_mrl = nce_mrl
        self.cosent = cosent
        self.micl = micl
        self.late_fusion = late_fusion
        given = dict(weights or {})
        _check_weights(given)
        self.weights = {name: float(given.get(name) or 0.0) for name in TERMS}
        if "nce_mrl" not in given:
            self.weights["nce_mrl"] = 1.0
        for name in TERMS:
            if self.weights[name] and getattr(self, name) is None:
                raise ConfigError(
                    f"loss weights.{name}: weight {self.weights[name]} but no {name} loss module"
                )

    def forward(self, inputs: SAILInputs) -> dict[str, Tensor]:
        x = inputs
        extra: dict[str, Tensor] = {}

        def nce() -> Tensor:
            assert self.nce_mrl is not None and x.query is not None and x.target is not None
            out = self.nce_mrl(
                x.query,
                x.target,
                source=x.source,
                hard_negatives=x.hard_negatives,
                hard_negative_mask=x.hard_negative_mask,
                query_groups=x.query_groups,
                target_groups=x.target_groups,
                hard_negative_groups=x.hard_negative_groups,
            )
            extra.update({f"nce_mrl/{k}": v.detach() for k, v in out.items() if k != "loss"})
            return out["loss"]

        has_pair = x.query is not None and x.target is not None
        has_vision = x.q_vision is not None and x.t_vision is not None
        has_text = x.q_text is not None and x.t_text is not None
        terms: dict[str, Term] = {
            "nce_mrl": nce if has_pair and self.nce_mrl is not None else None,
            "cosent": (
                (lambda: self.cosent(x.query, x.target, x.scores))
                if has_pair and x.scores is not None and self.cosent is not None
                else None
            ),
            "micl": (
                (lambda: self.micl(x.q_vision, x.t_vision, x.q_text, x.t_text, x.vision_mask, x.text_mask))
                if has_vision and has_text and self.micl is not None
                else None
            ),
            "late_fusion": (
                (lambda: self.late_fusion(x.q_vision, x.query, x.t_vision, x.target, x.vision_mask))
                if has_pair and has_vision and self.late_fusion is not None
                else None
            ),
        }
        total, logged = combine_losses(terms, self.weights)
        logged.update(extra)
        logged["loss"] = total
        return logged
