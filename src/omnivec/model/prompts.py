"""Prompt templates chosen by (task, side), paper §3.2.2 / Fig. 5.

A template is a format string with four placeholders: ``{instruction}`` (the task instruction for this task
and side), ``{audio}`` (one audio token), ``{vision}`` (the perceiver's N visual tokens) and ``{text}`` (the
item's formatted text fields). The modality placeholders expand to nothing when the item lacks that modality.
Templates are saved with the model (in the input module's config) so training, evaluation and serving use
exactly the same wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

SIDES = ("query", "target")
SLOTS = ("audio", "vision", "text")
_PLACEHOLDER = re.compile(r"\{(instruction|audio|vision|text)\}")

#: The catalogue-side instruction of the default prompts: every item that is a candidate, or that stands for
#: itself (an i2i query, a history item, an item to label), is embedded with this one wording, so one catalogue
#: embedding serves search, i2i recommendation, sequence recommendation and classification (one index, one
#: corpus pass). Only free-text queries and label names get their own instruction (as in E5/BGE).
ITEM_INSTRUCTION = "Represent this video."

#: The default instructions: short, because on CPU every prompt token is paid for on every item. The
#: paper's longer per-task Fig. 5 wording is in :data:`PAPER_INSTRUCTIONS` (used by the ``sail-qwen``
#: architecture; it gives every task its own catalogue embedding).
DEFAULT_INSTRUCTIONS: dict[str, str] = {
    "i2i/query": ITEM_INSTRUCTION,
    "i2i/target": ITEM_INSTRUCTION,
    "q2i/query": "Search query for a video.",
    "q2i/target": ITEM_INSTRUCTION,
    "cls/query": ITEM_INSTRUCTION,
    "cls/target": "Content label.",
    "seq/query": ITEM_INSTRUCTION,
    "seq/target": ITEM_INSTRUCTION,
}

#: Paraphrases of the paper's Fig. 5 instructions. Keys are ``task/side``.
PAPER_INSTRUCTIONS: dict[str, str] = {
    "i2i/query": "Find a video that shares the theme of this video, using its images, text and audio.",
    "i2i/target": "Find a video that shares the theme of this video, using its images, text and audio.",
    "q2i/query": "Given a search query, retrieve the video whose images, text and audio best match the intent.",
    "q2i/target": "Represent this video's images, text and audio for the search queries most likely to find it.",
    "cls/query": "From this video's images, text and audio, find the content label that best represents it.",
    "cls/target": "Given a hierarchical content label, find videos whose images, text and audio match it.",
    "seq/query": "Represent this video a user watched, to recommend videos that match the user's interests.",
    "seq/target": "Represent this video a user watched, to recommend videos that match the user's interests.",
}

#: A plain template for encoder (BERT-like) backbones: special tokens come from the tokenizer.
ENCODER_TEMPLATE = "{instruction} | {audio}{vision}{text}"
#: The paper's chat template for Qwen-family decoder backbones (Fig. 5).
QWEN_CHAT_TEMPLATE = (
    "<|im_start|>system\n{instruction}<|im_end|>\n<|im_start|>user\n{audio}{vision}{text}<|im_end|>\n"
    "<|im_start|>assistant\n<|endoftext|>"
)


class PromptConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = ENCODER_TEMPLATE
    instructions: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_INSTRUCTIONS))
    default_task: str = "i2i"

    @model_validator(mode="after")
    def _check(self) -> PromptConfig:
        found = _PLACEHOLDER.findall(self.template)
        for slot in ("instruction", *SLOTS):
            if found.count(slot) != 1:
                raise ValueError(
                    f"prompts.template must contain {{{slot}}} exactly once, found {found.count(slot)}"
                )
        for key in self.instructions:
            task, _, side = key.partition("/")
            if not task or side not in SIDES:
                raise ValueError(
                    f"prompts.instructions key {key!r} must look like 'TASK/query' or 'TASK/target'"
                )
        if f"{self.default_task}/query" not in self.instructions:
            raise ValueError(
                f"prompts.default_task {self.default_task!r} has no '{self.default_task}/query' instruction"
            )
        return self

    @property
    def tasks(self) -> list[str]:
        return sorted({k.split("/")[0] for k in self.instructions})


@dataclass(frozen=True)
class Segment:
    """One piece of a rendered template: literal text, or a modality slot."""

    kind: str  # "literal" | "audio" | "vision" | "text"
    text: str = ""


def resolve_task_side(config: PromptConfig, task: str | None, side: str | None) -> tuple[str, str]:
    """Normalise (task, side). Accepts sentence-transformers' ``task="query"|"document"`` convention too."""
    from omnivec.errors import ConfigError

    if task in ("query", "document") and side is None:
        task, side = None, "query" if task == "query" else "target"
    if side == "document":
        side = "target"
    task = task or config.default_task
    side = side or "query"
    if side not in SIDES:
        raise ConfigError(f"side must be one of {SIDES}, got {side!r}")
    if f"{task}/{side}" not in config.instructions:
        raise ConfigError(f"unknown task {task!r} for side {side!r}; this model knows tasks {config.tasks}")
    return task, side


def render_segments(
    config: PromptConfig, task: str, side: str, instruction: str | None = None
) -> list[Segment]:
    """Split the template for (task, side) into literal text and modality slots, in order.
    ``instruction`` overrides the configured instruction text."""
    instruction = instruction or config.instructions[f"{task}/{side}"]
    segments: list[Segment] = []
    literal = ""
    pos = 0
    for match in _PLACEHOLDER.finditer(config.template):
        literal += config.template[pos : match.start()]
        pos = match.end()
        name = match.group(1)
        if name == "instruction":
            literal += instruction
            continue
        if literal:
            segments.append(Segment("literal", literal))
            literal = ""
        segments.append(Segment(name))
    literal += config.template[pos:]
    if literal:
        segments.append(Segment("literal", literal))
    return segments
