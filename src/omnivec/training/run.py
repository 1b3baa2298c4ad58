"""The stage runner behind ``omnivec train RECIPE.yaml``.

Each stage is one run of :class:`SAILTrainer` (the sentence-transformers trainer, HF Trainer underneath) with
its sources, sampling weights (stochastic specialization), losses, learning-rate schedule (warm-up then cosine
down to a floor) and, in Stage III, mined hard negatives. Checkpoints are written every ``save_steps`` inside
the stage folder; a killed run restarted with the same recipe skips finished stages and resumes the current one
from its last checkpoint (model, optimizer, scheduler, loss temperatures, and the same data order: the sampler
is a pure function of (seed, epoch) and the trainer skips the batches already seen).
"""

from __future__ import annotations

import json
import logging
import math
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback

from omnivec.errors import ConfigError
from omnivec.training.cre import CRE_SOURCES, ID2ITEM, SEQ2ITEM, HistoryVectors
from omnivec.training.data import TrainingData
from omnivec.training.recipe import LOSS_TERMS, Recipe, StageSpec
from omnivec.utils.io import atomic_dir, write_json

logger = logging.getLogger(__name__)
# the model-card helper warns about our DatasetDict of row indices on every stage; nothing to act on
logging.getLogger("sentence_transformers.base.model_card").setLevel(logging.ERROR)
LOSS_STATE = "omnivec_loss.safetensors"
CRE_STATE = "omnivec_cre.safetensors"
MIXED = "mixed"  # the one source of a stage with `mix: true`


# ------------------------------------------------------------------ validation
def stage_sources(stage: StageSpec, data: TrainingData) -> list[str]:
    return list(data.source_names) if stage.sources == "all" else list(stage.sources)


def validate_recipe(recipe: Recipe, data: TrainingData, prompt_tasks: list[str] | None = None) -> None:
    """Fail before training, naming the key, on anything the run would trip over later."""
    known = set(data.source_names)
    if recipe.cre is not None:
        from omnivec.training.cre import CRE_SOURCES

        known |= set(CRE_SOURCES)
    for key in recipe.losses.temperatures:
        if key not in known:
            raise ConfigError(f"losses.temperatures.{key}: unknown source; data has {sorted(known)}")
    for i, stage in enumerate(recipe.stages):
        names = stage_sources(stage, data)
        for j, name in enumerate(names):
            if name not in known:
                raise ConfigError(
                    f"stages[{i}].sources[{j}]: unknown source {name!r}; data has {sorted(known)}"
                )
        bs = stage.batch_size or recipe.batch_size
        for name in names:
            if name not in data.source_names:
                continue  # a CRE source, built (and checked) when its first stage starts
            n = len(data.source(name).rows)  # also validates columns and item references
            if n < bs:
                raise ConfigError(
                    f"stages[{i}] ({stage.name}): source {name!r} has {n} pairs, fewer than batch_size {bs}"
                )
        if isinstance(stage.weights, dict):
            extra, missing = set(stage.weights) - set(names), set(names) - set(stage.weights)
            if extra or missing:
                raise ConfigError(f"stages[{i}].weights: unknown {sorted(extra)}, missing {sorted(missing)}")
            if any(w < 0 for w in stage.weights.values()) or sum(stage.weights.values()) <= 0:
                raise ConfigError(f"stages[{i}].weights: must be >= 0 and not all zero")
        if stage.weights == "balanced" and recipe.balance is None:
            raise ConfigError(
                f"stages[{i}].weights: 'balanced' needs the recipe's 'balance' (run `omnivec balance`)"
            )
        for key in stage.losses or {}:
            if key not in LOSS_TERMS:
                raise ConfigError(f"stages[{i}].losses.{key}: unknown loss term; terms are {LOSS_TERMS}")
        if stage.hard_negatives:
            for name in names:
                if name in data.source_names and data.source(name).config.target != "item":
                    raise ConfigError(f"stages[{i}].hard_negatives: source {name!r} has text targets; "
                                      "list only item-target sources in a hard-negative stage")  # fmt: skip
        for src, pats in (stage.patterns or {}).items():
            if src not in names:
                raise ConfigError(f"stages[{i}].patterns.{src}: source not in this stage")
            from omnivec.model.views import parse_view

            for q, t in pats:
                parse_view(q), parse_view(t)
    if prompt_tasks is not None:
        for meta, task in recipe.prompt_tasks.items():
            if task not in prompt_tasks:
                raise ConfigError(
                    f"prompt_tasks.{meta}: the model has no prompt task {task!r} ({prompt_tasks})"
                )
    if recipe.mini_batch_size and recipe.mini_batch_size >= recipe.batch_size:
        logger.info("mini_batch_size >= batch_size: GradCache has nothing to save")


def stage_weights(stage: StageSpec, recipe: Recipe, data: TrainingData) -> dict[str, float]:
    names = stage_sources(stage, data)
    if isinstance(stage.weights, dict):
        raw = dict(stage.weights)
    elif stage.weights == "uniform":
        raw = dict.fromkeys(names, 1.0)
    elif stage.weights == "size":
        raw = {n: float(len(data.source(n).rows)) for n in names}
    else:  # balanced
        bal = recipe.balance
        if bal == "auto":
            bal = str(Path(recipe.output_dir) / "balance.json")
        table = json.loads(Path(bal).read_text())["weights"] if isinstance(bal, str) else dict(bal or {})
        missing = [n for n in names if n not in table]
        if missing:
            raise ConfigError(f"balance: no weight for sources {missing}")
        raw = {n: float(table[n]) for n in names}
    total = sum(raw.values())
    return {n: raw[n] / total for n in names}


# --------------------------------------------------------------------- pieces
class SamplerFactory:
    """A picklable ``multi_dataset_batch_sampler`` (the trainer pickles its arguments into checkpoints)."""

    def __init__(self, weights: dict[str, float], names: list[str], seed: int, schedule: str = "iid") -> None:
        self.weights, self.names, self.seed, self.schedule = weights, names, seed, schedule

    def __call__(self, dataset: Any, batch_samplers: Any, generator: Any = None, seed: int | None = 0) -> Any:
        from omnivec.data.samplers import StochasticSpecializationBatchSampler

        return StochasticSpecializationBatchSampler(
            dataset, batch_samplers, generator=generator, seed=self.seed, weights=self.weights,
            source_names=self.names, schedule=getattr(self, "schedule", "iid"),  # older checkpoints: iid
        )  # fmt: skip


def tower_lr_mapping(model: Any, lr: float) -> dict[str, float]:
    """Parameter-name patterns of the vision/audio towers (as the trainer sees them through the objective)."""
    from omnivec.model.audio import AudioTower
    from omnivec.model.vision import VisionTower

    names = [name for name, module in model.named_children() if isinstance(module, (VisionTower, AudioTower))]
    return {rf"^model\.{name}\.": lr for name in names}


def build_objective(model: Any, recipe: Recipe, data: TrainingData, stage: StageSpec,
                    id_tables: dict[str, dict[str, np.ndarray]] | None = None,
                    item_emb: dict[str, np.ndarray] | None = None,
                    sequence_encoder: Any = None) -> Any:  # fmt: skip
    from omnivec.training.losses.cosent import CoSENTLoss
    from omnivec.training.losses.late_fusion import LateFusionLoss
    from omnivec.training.losses.micl import MICLLoss
    from omnivec.training.losses.nce_mrl import NCEMRLLoss
    from omnivec.training.losses.total import SAILLoss
    from omnivec.training.objective import SAILObjective

    spec = recipe.losses
    temps = {n: spec.temperatures.get(n, spec.temperature) for n in {*data.source_names, MIXED, *CRE_SOURCES}}
    weights = {**spec.weights, **(stage.losses or {})}
    loss = SAILLoss(
        NCEMRLLoss(model.matryoshka_dims, temps, default_temperature=spec.temperature,
                   learnable_temperature=spec.learnable_temperature,
                   gather_across_processes=spec.gather_across_processes),
        CoSENTLoss(scale=spec.cosent_scale),
        MICLLoss(temperature=spec.micl_temperature),
        LateFusionLoss(model.dimension, temperature=spec.late_fusion_temperature),
        weights=weights,
    )  # fmt: skip
    extra: dict[str, Any] = {}
    if recipe.cre is not None:
        from omnivec.recsys.alignment import IDAlignmentHead, build_sequence_encoder
        from omnivec.training.cre import item_centroid, needs_centre

        tables = id_tables or {}
        head = None
        if tables:
            head = IDAlignmentHead(
                model.dimension, {n: len(next(iter(t.values()))) for n, t in tables.items()}
            )
            if recipe.cre.id_init == "ridge":
                head.init_ridge(item_emb or {}, tables, alpha=recipe.cre.ridge_alpha)
        # the run's encoder carries over from one CRE stage to the next (a learned one keeps training)
        encoder = (
            sequence_encoder
            if sequence_encoder is not None
            else build_sequence_encoder(recipe.cre.sequence_encoder)
        )
        if needs_centre(recipe.cre) and SEQ2ITEM in stage_sources(stage, data):
            encoder.set_centre(item_centroid(item_emb or {}))
        extra = {
            "sequence_encoder": encoder,
            "sequence_grad": recipe.cre.sequence_grad,
            "id_head": head,
            "id_loss": recipe.cre.id_loss,
            "seq_target_id_weight": recipe.cre.seq_target_id_weight,
            "negative_queue": recipe.cre.negative_queue,
        }
    return SAILObjective(model, loss, mini_batch_size=recipe.mini_batch_size,
                         pattern_reduction=spec.pattern_reduction, **extra)  # fmt: skip


def _sail_trainer_class() -> type:
    from sentence_transformers import SentenceTransformerTrainer

    class SAILTrainer(SentenceTransformerTrainer):
        """The sentence-transformers trainer with the SAIL objective: the collated batch goes to the
        objective whole (views, patterns, negatives), its components are logged, its scalar is returned."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[override]
            objective = self.loss
            if model == self.model_wrapped and objective.model is not model:
                objective.model = model
            out = objective(inputs)
            sums = self.__dict__.setdefault("_omnivec_components", {})
            for key, value in out.items():
                if key != "loss":  # averaged over the steps where the term occurred, not over all steps
                    total, count = sums.get(key, (0.0, 0))
                    sums[key] = (total + float(value.detach()), count + 1)
            return (out["loss"], {}) if return_outputs else out["loss"]

        def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
            sums = self.__dict__.pop("_omnivec_components", {})
            if "loss" in logs:
                logs.update({k: round(total / count, 4) for k, (total, count) in sums.items()})
            else:
                self.__dict__["_omnivec_components"] = sums
            super().log(logs, *args, **kwargs)

    return SAILTrainer


class RunLogger(TrainerCallback):
    """Appends every log to ``train_log.jsonl`` with samples/s, peak memory and all source temperatures."""

    def __init__(self, path: Path, stage: str, batch_size: int, objective: Any) -> None:
        self.path, self.stage, self.batch_size, self.objective = path, stage, batch_size, objective
        self._t, self._step = time.perf_counter(), 0

    def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[override]
        now = time.perf_counter()
        steps = state.global_step - self._step
        record = {"stage": self.stage, "step": state.global_step, **(logs or {})}
        if steps > 0:
            record["samples_per_s"] = round(steps * self.batch_size / max(now - self._t, 1e-9), 2)
        record["peak_memory_mib"] = round(peak_memory_mib(), 1)
        nce = self.objective.loss.nce_mrl
        with torch.no_grad():
            record["temperatures"] = {s: round(nce.temperature(s).item(), 5) for s in nce.sources}
        self._t, self._step = now, state.global_step
        with self.path.open("a") as fh:
            fh.write(json.dumps(record, default=float) + "\n")


class LossState(TrainerCallback):
    """Saves the objective's own parameters (temperatures, late-fusion gate; the CRE sequence encoder and ID
    head) with each checkpoint and averages their gradients across processes (they live outside the DDP-wrapped
    model)."""

    def __init__(self, objective: Any) -> None:
        self.objective = objective

    def on_save(self, args, state, control, **kwargs):  # type: ignore[override]
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if ckpt.is_dir():
            save_file(
                {k: v.detach().contiguous() for k, v in self.objective.loss.state_dict().items()},
                ckpt / LOSS_STATE,
            )
            cre = {f"{name}.{k}": v.detach().contiguous() for name, module in self.objective.cre_modules().items()
                   for k, v in module.state_dict().items()}  # fmt: skip
            if cre:
                save_file(cre, ckpt / CRE_STATE)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):  # type: ignore[override]
        from omnivec.training.distributed import average_gradients, is_distributed

        if is_distributed():
            cre = [p for module in self.objective.cre_modules().values() for p in module.parameters()]
            average_gradients([*self.objective.loss.parameters(), *cre])


def restore_objective(objective: Any, checkpoint: Path) -> None:
    """Load what :class:`LossState` saved in ``checkpoint`` back into the objective (resuming a stage)."""
    if (checkpoint / LOSS_STATE).is_file():
        objective.loss.load_state_dict(load_file(str(checkpoint / LOSS_STATE)))
    if (checkpoint / CRE_STATE).is_file():
        state = load_file(str(checkpoint / CRE_STATE))
        for name, module in objective.cre_modules().items():
            prefix = f"{name}."
            module.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})


class PeriodicRefresh(TrainerCallback):
    """Calls ``refresh`` every ``every`` steps, not after the last one, and with ``at_start`` also when training
    begins (after a resume has loaded its checkpoint). Dynamic hard-negative mining (§3.1.2) re-mines with it;
    ``cre.history_refresh_every`` re-embeds frozen CRE histories with it."""

    def __init__(self, every: int, refresh: Callable[[], None], *, at_start: bool = False) -> None:
        self.every, self.refresh, self.at_start = every, refresh, at_start

    def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[override]
        if self.at_start:
            self.refresh()

    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[override]
        if state.global_step and state.global_step % self.every == 0 and state.global_step < state.max_steps:
            self.refresh()


def peak_memory_mib() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_record(recipe: Recipe) -> dict[str, Any]:
    import sentence_transformers
    import transformers

    import omnivec

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                                cwd=Path(__file__).parent).stdout.strip() or None  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "recipe": recipe.model_dump(mode="json"),
        "seed": recipe.seed,
        "versions": {
            "omnivec": omnivec.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "python": platform.python_version(),
        },
        "git_commit": commit,
    }


# ---------------------------------------------------------------------- runner
@dataclass
class StageResult:
    name: str
    steps: int
    seconds: float
    mining: list[dict] = field(default_factory=list)
    skipped_items: int = 0
    #: batches trained per source in this run of the stage (a resumed stage counts from the resume point)
    source_batches: dict[str, int] = field(default_factory=dict)


def _latest_checkpoint(stage_dir: Path) -> str | None:
    ckpts = sorted(stage_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    ckpts = [c for c in ckpts if (c / "trainer_state.json").is_file()]
    return str(ckpts[-1]) if ckpts else None


def train_stage(model: Any, recipe: Recipe, data: TrainingData, stage: StageSpec, index: int, run_dir: Path,
                *, progress: bool = True, sequence_encoder: Any = None) -> StageResult:  # fmt: skip
    from datasets import Dataset, DatasetDict
    from sentence_transformers import SentenceTransformerTrainingArguments

    from omnivec.training.collator import SAILCollator
    from omnivec.training.hard_negatives import mine_source

    stage_dir = run_dir / f"stage{index + 1}-{stage.name}"
    names = stage_sources(stage, data)
    weights = stage_weights(stage, recipe, data)
    bs = stage.batch_size or recipe.batch_size
    id_tables = history_vectors = item_emb = None
    history_refresh: PeriodicRefresh | None = None
    if recipe.cre is not None and set(names) & set(CRE_SOURCES):
        from omnivec.training.cre import load_id_tables, load_item_embeddings, needs_centre

        if ID2ITEM in names:
            id_tables = load_id_tables(recipe.cre, run_dir)
        if recipe.cre.history == "frozen" or recipe.cre.id_init == "ridge" or needs_centre(recipe.cre):
            item_emb = load_item_embeddings(run_dir)
        if recipe.cre.history == "frozen" and SEQ2ITEM in names:
            history_vectors = item_emb
            if recipe.cre.history_refresh_every:
                history_vectors = HistoryVectors(model, data, run_dir, item_emb)
                history_refresh = PeriodicRefresh(recipe.cre.history_refresh_every, history_vectors.refresh,
                                                  at_start=True)  # fmt: skip
    objective = build_objective(model, recipe, data, stage, id_tables, item_emb, sequence_encoder)
    negatives: dict[str, dict[int, list[str]]] = {}
    mining_log: list[dict] = []

    def remine() -> None:
        from omnivec.training.embed_memo import EmbeddingMemo

        was_training = model.training
        model.eval()
        memo = EmbeddingMemo(model)  # one round, one set of weights: shared items are embedded once
        for name in stage_sources(stage, data):
            res = mine_source(model, data, name, k=stage.hard_negatives.k, max_queries=stage.hard_negatives.max_queries,
                              prompt_task=recipe.prompt_tasks.get(data.source(name).config.task), seed=recipe.seed,
                              memo=memo)  # fmt: skip
            negatives[name] = res.negatives
            mining_log.append(res.summary())
        model.train(was_training)

    if stage.hard_negatives:
        remine()
    uses_views = any(
        ({**recipe.losses.weights, **(stage.losses or {})}).get(t, 0) > 0 for t in ("micl", "late_fusion")
    )
    collator = SAILCollator(
        model, data, prompt_tasks=recipe.prompt_tasks, extra_views=("vision", "text") if uses_views else (),
        field_drop_prob=recipe.field_drop_prob, seed=recipe.seed + index,
        max_hard_negatives=stage.hard_negatives.k if stage.hard_negatives else 0,
        negatives=negatives, patterns=stage.patterns, id_tables=id_tables, history_vectors=history_vectors,
        sampling_correction=recipe.cre is not None and recipe.cre.sampling_correction,
    )  # fmt: skip
    collator.valid_label_columns = []
    columns = {n: {"source": [n] * len(data.source(n).rows), "row": list(range(len(data.source(n).rows)))}
               for n in names}  # fmt: skip
    if stage.mix:
        collator.mixed_name = MIXED
        columns = {MIXED: {k: [v for n in names for v in columns[n][k]] for k in ("source", "row")}}
        names, weights = [MIXED], {MIXED: 1.0}
    datasets = DatasetDict({n: Dataset.from_dict(cols) for n, cols in columns.items()})
    if stage.steps is not None:
        max_steps = stage.steps
    else:
        max_steps = max(1, math.ceil(stage.epochs * sum(len(d) for d in datasets.values()) / bs))
    args = SentenceTransformerTrainingArguments(
        output_dir=str(stage_dir), per_device_train_batch_size=bs, max_steps=max_steps, learning_rate=stage.lr,
        warmup_steps=int(stage.warmup_ratio * max_steps), lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": stage.min_lr_ratio}, weight_decay=stage.weight_decay,
        logging_steps=recipe.logging_steps, save_steps=recipe.save_steps, save_total_limit=1, seed=recipe.seed + index,
        report_to=[], dataloader_drop_last=True, remove_unused_columns=False, disable_tqdm=not progress,
        multi_dataset_batch_sampler=SamplerFactory(weights, names, recipe.seed + index, stage.source_schedule), use_cpu=not torch.cuda.is_available(),
        max_grad_norm=1.0,
        learning_rate_mapping=tower_lr_mapping(model, stage.lr * recipe.tower_lr_multiplier)
        if recipe.tower_lr_multiplier != 1.0
        else {},
    )  # fmt: skip
    callbacks = [RunLogger(run_dir / "train_log.jsonl", stage.name, bs, objective), LossState(objective)]
    if stage.hard_negatives and stage.hard_negatives.refresh_every:
        callbacks.append(PeriodicRefresh(stage.hard_negatives.refresh_every, remine))
    if history_refresh is not None:
        callbacks.append(history_refresh)
    trainer = _sail_trainer_class()(model=model, args=args, train_dataset=datasets, loss=objective,
                                    data_collator=collator, callbacks=callbacks)  # fmt: skip
    resume = _latest_checkpoint(stage_dir)
    if resume:
        restore_objective(objective, Path(resume))
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    return StageResult(stage.name, max_steps, time.perf_counter() - t0, mining_log, len(collator.skipped),
                       dict(objective.source_batches.most_common()))  # fmt: skip


class _RunSequenceEncoder:
    """The run's CRE sequence encoder: one object through every CRE stage (a learned one keeps training), read
    back from a finished stage on resume, and saved beside each model once a seq→item stage has trained it."""

    def __init__(self, recipe: Recipe) -> None:
        self.encoder: Any = None
        self.trained = False
        if recipe.cre is not None:
            from omnivec.recsys.alignment import build_sequence_encoder

            self.encoder = build_sequence_encoder(recipe.cre.sequence_encoder)

    def resume(self, final: Path) -> None:
        from omnivec.recsys.sequence_io import load_sequence_encoder

        saved = load_sequence_encoder(final)
        if saved is not None and self.encoder is not None:
            self.encoder.load_state_dict(saved.state_dict())
            self.trained = True

    def save(self, folder: Path) -> bool:
        from omnivec.recsys.sequence_io import save_sequence_encoder

        return bool(self.trained and self.encoder is not None and save_sequence_encoder(self.encoder, folder))


def train_recipe(recipe: Recipe, *, progress: bool = True, echo: Callable[[str], None] = print) -> Path:
    """Run every stage of ``recipe``; returns the folder of the final model (``OUTPUT_DIR/model``)."""
    import omnivec

    data = TrainingData(recipe.data)
    run_dir = Path(recipe.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    np.random.seed(recipe.seed)
    model = (
        omnivec.load(recipe.model.init)
        if recipe.model.init
        else omnivec.build(recipe.model.arch, seed=recipe.seed)
    )
    if recipe.model.instruction:
        model.omni_input.set_instruction(recipe.model.instruction)
    validate_recipe(recipe, data, prompt_tasks=model.omni_input.prompt_config.tasks)
    write_json(run_dir / "run.json", run_record(recipe))
    results = []
    sequence = _RunSequenceEncoder(recipe)
    for i, stage in enumerate(recipe.stages):
        final = run_dir / f"stage{i + 1}-{stage.name}" / "final"
        if (final / "modules.json").is_file():
            echo(f"stage {i + 1} ({stage.name}): already done, loading {final}")
            model = omnivec.load(final)
            sequence.resume(final)
            continue
        echo(f"stage {i + 1} ({stage.name}): sources {stage_sources(stage, data)}")
        balance_file = run_dir / "balance.json"
        if stage.weights == "balanced" and recipe.balance == "auto" and not balance_file.is_file():
            from omnivec.training.balance import balance_sources, save_balance

            model.eval()
            result = balance_sources(model, data, per_set=recipe.balance_per_set,
                                     temperature=recipe.balance_temperature, seed=recipe.seed,
                                     aggregate=recipe.balance_aggregate)  # fmt: skip
            save_balance(result, balance_file)
            echo("  balancing weights (fusion-first alignment with the validation sets):")
            for name, w in sorted(result.weights.items(), key=lambda kv: -kv[1]):
                echo(f"    {name:14s} {w:.3f}")
        if recipe.cre is not None and set(stage_sources(stage, data)) & set(CRE_SOURCES):
            from omnivec.training.cre import prepare_cre

            model.eval()
            prepare_cre(recipe.cre, data, model, run_dir, echo)
            validate_recipe(recipe, data)
        result = train_stage(model, recipe, data, stage, i, run_dir, progress=progress,
                             sequence_encoder=sequence.encoder)  # fmt: skip
        sequence.trained |= SEQ2ITEM in stage_sources(stage, data)
        for m in result.mining:
            echo(
                f"  mined {m['source']}: λ*={m['lambda_star']} (F1 {m['f1']}), {m['mean_negatives']} negatives/query"
            )
        echo("  batches per source: " + ", ".join(f"{n} {c}" for n, c in result.source_batches.items()))
        if result.skipped_items:
            echo(f"  skipped {result.skipped_items} undecodable item(s); see the log")
        with atomic_dir(final) as tmp:
            model.save(str(tmp))
            sequence.save(tmp)
        results.append(result.__dict__)
        echo(f"  done: {result.steps} steps in {result.seconds:.0f}s")
    out = run_dir / "model"
    with atomic_dir(out) as tmp:
        model.save(str(tmp))
        if sequence.save(tmp):
            echo(f"  the trained sequence encoder is saved with the model ({out}/sequence_encoder.*)")
    write_json(run_dir / "stages.json", results)
    return out
