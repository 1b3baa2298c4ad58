"""Recipes: a YAML file that names the data, the model, the losses and the progressive stages.

Content-aware progressive training (§3.3.1): Stage I on all sources, Stage II on the subset closest to the
evaluation tasks, Stage III with hard negatives on a clean subset; then (recommendation issue) CRE stages.
Every value the paper leaves open is a key here, with the default we chose documented next to it. A bad recipe
fails in :func:`validate_recipe` before any training starts, and the message names the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from omnivec.errors import ConfigError
from omnivec.training.cre import CRESpec

LOSS_TERMS = ("nce_mrl", "cosent", "micl", "late_fusion")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ModelSpec(_Strict):
    arch: str | None = Field("small", description="registered architecture (or JSON path) to build")
    init: str | None = Field(None, description="start from a saved model folder instead of building")
    instruction: str | None = Field(
        None, description="one instruction for every task and side (the 'no per-task instructions' ablation)"
    )

    @model_validator(mode="after")
    def _one(self) -> ModelSpec:
        if self.init:
            self.arch = None
        if not self.arch and not self.init:
            raise ValueError("give model.arch or model.init")
        return self


class LossSpec(_Strict):
    weights: dict[str, float] = Field(default_factory=lambda: {"nce_mrl": 1.0})
    temperature: float = Field(
        0.05, gt=0, description="initial per-source temperature (ours; paper: unstated)"
    )
    temperatures: dict[str, float] = Field(
        default_factory=dict, description="per-source initial temperatures"
    )
    learnable_temperature: bool = True
    cosent_scale: float = Field(20.0, gt=0, description="1/τ of CoSENT (Su's default 20)")
    micl_temperature: float = Field(0.05, gt=0)
    late_fusion_temperature: float = Field(0.05, gt=0)
    pattern_reduction: Literal["mean", "sum"] = "mean"
    gather_across_processes: bool = Field(
        True, description="under torchrun/accelerate, every rank's targets are negatives of every query"
    )

    @field_validator("weights")
    @classmethod
    def _terms(cls, v: dict[str, float]) -> dict[str, float]:
        for k, w in v.items():
            if k not in LOSS_TERMS:
                raise ValueError(f"unknown loss term {k!r}; terms are {LOSS_TERMS}")
            if w < 0:
                raise ValueError(f"loss weight {k} must be >= 0, got {w}")
        return v


class HardNegativeSpec(_Strict):
    k: int = Field(3, ge=1, description="hard negatives per query (top-k below λ*)")
    refresh_every: int | None = Field(None, ge=1, description="re-mine every N steps (None: once per stage)")
    max_queries: int = Field(20000, ge=1, description="queries used to pick λ* and to mine, per source")


class StageSpec(_Strict):
    name: str
    sources: list[str] | Literal["all"] = "all"
    weights: dict[str, float] | Literal["uniform", "size", "balanced"] = "size"
    steps: int | None = Field(None, ge=1)
    epochs: float | None = Field(None, gt=0)
    lr: float = Field(5e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    min_lr_ratio: float = Field(
        0.1, ge=0, le=1, description="cosine floor as a fraction of lr (paper: 6e-6/1e-5)"
    )
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: int | None = Field(None, ge=2)
    losses: dict[str, float] | None = Field(
        None, description="loss weights overriding the recipe's for this stage"
    )
    hard_negatives: HardNegativeSpec | None = None
    patterns: dict[str, list[tuple[str, str]]] | None = Field(
        None, description="per-source pattern overrides"
    )
    mix: bool = Field(
        False,
        description="mix sources inside batches (no stochastic specialization): omni→omni only, one temperature",
    )
    source_schedule: str = Field(
        "iid",
        description="how steps are dealt to sources: 'iid' draws each step's source by weight (paper); 'smooth' "
        "gives every prefix of the stage each source's share to within about a step (short stages)",
    )

    @field_validator("source_schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        from omnivec.data.samplers import SOURCE_SCHEDULES

        if v not in SOURCE_SCHEDULES:
            raise ValueError(f"unknown source schedule {v!r}; expected one of {sorted(SOURCE_SCHEDULES)}")
        return v

    @model_validator(mode="after")
    def _length(self) -> StageSpec:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(f"stage {self.name!r}: give exactly one of steps or epochs")
        return self


class Recipe(_Strict):
    name: str
    data: str = Field(description="data folder in the public format (world or your export)")
    output_dir: str
    model: ModelSpec = Field(default_factory=ModelSpec)
    seed: int = 0
    batch_size: int = Field(32, ge=2)
    mini_batch_size: int | None = Field(None, ge=1, description="GradCache mini-batch (None: no caching)")
    field_drop_prob: float = Field(0.1, ge=0, lt=1, description="random text-field drop (paper: unstated)")
    prompt_tasks: dict[str, str] = Field(default_factory=dict, description="source meta-task → prompt task")
    losses: LossSpec = Field(default_factory=LossSpec)
    tower_lr_multiplier: float = Field(
        1.0, gt=0, description="learning-rate multiplier for the vision/audio towers (random init) vs the LM"
    )
    logging_steps: int = Field(10, ge=1)
    save_steps: int = Field(50, ge=1, description="checkpoint every N steps (resume point)")
    balance: dict[str, float] | str | None = Field(
        None,
        description="weights for `weights: balanced` stages: a dict, a JSON path from `omnivec balance`, or "
        "'auto' = computed with the model as it is when the first balanced stage starts (an early model, §3.1.3)",
    )
    balance_per_set: int = Field(128, ge=8, description="samples embedded per set when balance is 'auto'")
    balance_temperature: float = Field(0.05, gt=0, description="softmax temperature of the balancing weights")
    balance_aggregate: Literal["mean", "per_set"] = Field(
        "mean",
        description="how validation sets combine: 'mean' = softmax of each source's mean score (paper); "
        "'per_set' = every validation set votes with its own softmax over sources, votes averaged",
    )
    cre: CRESpec | None = Field(None, description="collaboration-aware stages (seq2item / id2item sources)")
    stages: list[StageSpec] = Field(min_length=1)

    def resolve_paths(self, base: Path) -> Recipe:
        """Relative ``data``/``output_dir``/``model.init`` are taken relative to the current directory,
        or to ``base`` when the path exists only there."""

        def fix(p: str) -> str:
            path = Path(p)
            if path.is_absolute() or path.exists():
                return str(path)
            alt = base / path
            return str(alt) if alt.exists() else str(path)

        data = self.model_copy(deep=True)
        data.data = fix(self.data)
        if data.model.init:
            data.model.init = fix(data.model.init)
        return data


def _format(exc: ValidationError, source: str) -> ConfigError:
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
    return ConfigError(f"recipe {source}: {problems}")


def load_recipe(path: str | Path, overrides: dict | None = None) -> Recipe:
    """Read and validate a recipe YAML (``overrides`` are merged on top, e.g. from the CLI)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"recipe {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {p}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"recipe {p}: the top level must be a mapping")
    raw.update(overrides or {})
    try:
        return Recipe.model_validate(raw).resolve_paths(p.parent)
    except ValidationError as exc:
        raise _format(exc, str(p)) from None


def recipe_from_dict(raw: dict, source: str = "<dict>") -> Recipe:
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        raise _format(exc, source) from None
