"""ServeSettings: every knob of the embedding server, validated by pydantic.

Budgets and limits, with what each one bounds:

* ``max_body_bytes``: the HTTP body of one request (413 beyond it, checked before the body is read when
  the client sends ``Content-Length`` and while streaming otherwise).
* ``max_bytes``, ``max_pixels``, ``max_frames``, ``max_audio_seconds``, ``max_text_chars``, ``max_images``:
  one item's media, as :class:`omnivec.inputs.MediaLimits` (422 naming the item and field beyond them).
* ``max_request_items``: items in one ``/v1/embeddings`` request.
* ``max_pending_requests``: requests being decoded, queued or embedded at once (429 beyond it), so a burst
  cannot grow memory with decoded media.
* ``max_queue_items``: items waiting for the model (429 beyond it).
* ``max_batch_items``, ``max_batch_tokens`` (padded: longest sequence × items), ``max_batch_pixels``
  (decoded frame pixels): the size of one forward pass of the batcher.
* ``batch_wait_ms``: how long the batcher waits for more items once it has some and the batch is not full.
* ``request_timeout_s``: decode + queue + forward of one request (504 beyond it).
* ``max_search_k``, ``max_search_candidates``: results of one search, and candidates per side of a hybrid one.

``search_mode`` is the mode of a ``/v1/search`` request that names none: ``dense`` (default, scores are cosine
similarities as before hybrid search existed), ``lexical`` or ``hybrid`` (needs an index built with a lexical
part; queries without text fall back to ``dense``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from omnivec.index.hybrid import FUSIONS, MODES
from omnivec.inputs import MediaLimits

__all__ = ["ServeSettings"]

_MiB = 1024 * 1024


class ServeSettings(BaseModel):
    """Configuration of :func:`omnivec.serve.create_app`; defaults suit one CPU box."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = Field("omnivec", min_length=1, description="the id clients pass as `model`")
    api_keys: tuple[str, ...] = Field((), description="accepted Bearer keys; empty = no auth")
    media_root: Path | None = Field(
        None, description="local paths inside it may be embedded and serve thumbnails; None = no paths"
    )

    max_body_bytes: int = Field(32 * _MiB, gt=0)
    max_bytes: int = Field(16 * _MiB, gt=0, description="one media payload (decoded data URI or file)")
    max_pixels: int = Field(25_000_000, gt=0)
    max_frames: int = Field(3_000, gt=0)
    max_audio_seconds: float = Field(120.0, gt=0)
    max_text_chars: int = Field(20_000, gt=0)
    max_images: int = Field(8, gt=0)
    max_request_items: int = Field(256, gt=0)

    max_pending_requests: int = Field(64, gt=0)
    max_queue_items: int = Field(512, gt=0)
    max_batch_items: int = Field(32, gt=0)
    max_batch_tokens: int = Field(16_384, gt=0)
    max_batch_pixels: int = Field(64 * 224 * 224, gt=0)
    batch_wait_ms: float = Field(2.0, ge=0)
    request_timeout_s: float = Field(30.0, gt=0)
    drain_timeout_s: float = Field(30.0, ge=0)

    max_search_k: int = Field(100, gt=0)
    max_search_candidates: int = Field(1000, gt=0, description="hybrid: candidates per side of one search")
    search_mode: str = Field(
        "dense", description="mode of a search request that names none (dense | lexical | hybrid); "
        "queries without text use dense"
    )  # fmt: skip
    search_fusion: str = Field(
        "rrf", description="hybrid fusion when the request names none (rrf | weighted)"
    )
    search_task: str | None = Field(None, description="task of search queries; default: index info, model")
    thumbnail_size: int = Field(256, ge=16, le=1024)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, (list, tuple)):
            keys = [k.strip() if isinstance(k, str) else k for k in value]
            return tuple(k for k in keys if k != "")
        return value

    @field_validator("search_mode")
    @classmethod
    def _check_mode(cls, value: str) -> str:
        if value not in MODES:
            raise ValueError(f"search_mode must be one of {', '.join(MODES)}, got {value!r}")
        return value

    @field_validator("search_fusion")
    @classmethod
    def _check_fusion(cls, value: str) -> str:
        if value not in FUSIONS:
            raise ValueError(f"search_fusion must be one of {', '.join(FUSIONS)}, got {value!r}")
        return value

    @field_validator("media_root")
    @classmethod
    def _check_root(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        root = Path(value).expanduser().resolve()
        if not root.is_dir():
            raise ValueError(f"media_root {str(value)!r} is not a directory")
        return root

    @model_validator(mode="after")
    def _check_sizes(self) -> ServeSettings:
        if self.max_request_items > self.max_queue_items:
            raise ValueError(
                f"max_request_items ({self.max_request_items}) must not exceed max_queue_items "
                f"({self.max_queue_items}): such a request could never be queued"
            )
        return self

    @property
    def media_limits(self) -> MediaLimits:
        """The per-item media limits, as the inputs package takes them."""
        return MediaLimits(
            max_bytes=self.max_bytes,
            max_pixels=self.max_pixels,
            max_frames=self.max_frames,
            max_audio_seconds=self.max_audio_seconds,
            max_text_chars=self.max_text_chars,
            max_images=self.max_images,
        )
