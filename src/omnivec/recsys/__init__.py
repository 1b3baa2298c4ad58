"""Collaboration-aware recommendation enhancement (CRE, paper §3.3.5) and recommendation evaluation.

    from omnivec.recsys import build_seq2item_source, train_id_teacher, recsys_tasks
    stats = build_seq2item_source("runs/world")                # sources/seq2item.{parquet,json}
    teacher = train_id_teacher("runs/world")                    # item ID embeddings from the logs
    metrics = recsys_tasks("runs/world", item_ids, item_emb)    # id-i2i (Table 4), ctr (Table 6)

Modules: ``logs`` (plays and positive behaviours), ``similarity`` (content filters, collaborative clusters),
``interests`` (the four interest-mining perspectives), ``id_teacher`` (MF on the logs, ID table I/O),
``alignment`` (ID projection loss, sequence encoders), ``semantic_ids`` (residual k-means), ``ctr`` and
``evaluate``. Heavy imports (torch, scikit-learn) happen on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "InterestConfig": "omnivec.recsys.interests",
    "build_seq2item_source": "omnivec.recsys.interests",
    "IDTeacherConfig": "omnivec.recsys.id_teacher",
    "train_id_teacher": "omnivec.recsys.id_teacher",
    "load_id_tables": "omnivec.recsys.id_teacher",
    "write_id_table": "omnivec.recsys.id_teacher",
    "IDProjection": "omnivec.recsys.alignment",
    "IDAlignmentHead": "omnivec.recsys.alignment",
    "id_alignment_loss": "omnivec.recsys.alignment",
    "SEQUENCE_ENCODERS": "omnivec.recsys.alignment",
    "SequenceEncoderConfig": "omnivec.recsys.alignment",
    "build_sequence_encoder": "omnivec.recsys.alignment",
    "load_sequence_encoder": "omnivec.recsys.sequence_io",
    "save_sequence_encoder": "omnivec.recsys.sequence_io",
    "fit_residual_kmeans": "omnivec.recsys.semantic_ids",
    "encode": "omnivec.recsys.semantic_ids",
    "reconstruction_error": "omnivec.recsys.semantic_ids",
    "sid_file": "omnivec.recsys.semantic_ids",
    "RecsysEvalConfig": "omnivec.recsys.evaluate",
    "recsys_tasks": "omnivec.recsys.evaluate",
}

__all__ = [
    "SEQUENCE_ENCODERS",
    "IDAlignmentHead",
    "IDProjection",
    "IDTeacherConfig",
    "InterestConfig",
    "RecsysEvalConfig",
    "SequenceEncoderConfig",
    "build_seq2item_source",
    "build_sequence_encoder",
    "encode",
    "fit_residual_kmeans",
    "id_alignment_loss",
    "load_id_tables",
    "load_sequence_encoder",
    "reconstruction_error",
    "recsys_tasks",
    "save_sequence_encoder",
    "sid_file",
    "train_id_teacher",
    "write_id_table",
]

if TYPE_CHECKING:
    from omnivec.recsys.alignment import (
        SEQUENCE_ENCODERS,
        IDAlignmentHead,
        IDProjection,
        SequenceEncoderConfig,
        build_sequence_encoder,
        id_alignment_loss,
    )
    from omnivec.recsys.evaluate import RecsysEvalConfig, recsys_tasks
    from omnivec.recsys.id_teacher import IDTeacherConfig, load_id_tables, train_id_teacher, write_id_table
    from omnivec.recsys.interests import InterestConfig, build_seq2item_source
    from omnivec.recsys.semantic_ids import encode, fit_residual_kmeans, reconstruction_error, sid_file
    from omnivec.recsys.sequence_io import load_sequence_encoder, save_sequence_encoder


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'omnivec.recsys' has no attribute {name!r}")
