"""Wire formats: request bodies (pydantic), response bodies, and what an omni item may carry over HTTP.

``POST /v1/embeddings`` follows OpenAI's embeddings API (``input``, ``model``, ``dimensions``,
``encoding_format``, ``user``) plus two extensions, ``task`` and ``side`` (the prompt of the SAIL model).
``input`` is a string, a list of strings, or a list of omni items: JSON objects with any of :data:`WIRE_KEYS`,
media given as ``data:`` URIs (base64), or as paths inside the server's media root when one is configured.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from omnivec.errors import ItemError, UnknownFieldError
from omnivec.index.hybrid import FUSIONS, MODES
from omnivec.inputs import TEXT_FIELDS

__all__ = [
    "MEDIA_KEYS",
    "WIRE_KEYS",
    "EmbeddingRequest",
    "SearchRequest",
    "check_wire_item",
    "embedding_payload",
]

#: Media keys of a wire item; values are ``data:`` URIs (or media-root paths).
MEDIA_KEYS: tuple[str, ...] = ("image", "images", "video", "audio")
#: Every key a wire item may have.
WIRE_KEYS: tuple[str, ...] = ("text", *TEXT_FIELDS, *MEDIA_KEYS, "id")


class EmbeddingRequest(BaseModel):
    """Body of ``POST /v1/embeddings``."""

    model_config = ConfigDict(extra="forbid")

    input: str | list[Any] = Field(description="a string, a list of strings, or a list of omni items")
    model: str | None = None
    dimensions: int | None = Field(None, description="Matryoshka truncation, re-normalised")
    encoding_format: Literal["float", "base64"] | None = Field(
        None, description="float (default) or base64 of little-endian float32"
    )
    user: str | None = None
    task: str | None = Field(None, description="extension: prompt task (default: the model's)")
    side: str | None = Field(None, description="extension: query or target (default: query)")


class SearchRequest(BaseModel):
    """Body of ``POST /v1/search``: one query item against the loaded index.

    ``mode``: ``dense`` (embed the query, nearest vectors), ``lexical`` (BM25 over the items' text; the query
    must have text; nothing is embedded) or ``hybrid`` (both, fused). Omitted: the server's ``search_mode``
    (default ``dense``), falling back to ``dense`` for a query without text. ``fusion`` (``rrf`` or
    ``weighted``), ``weights`` (``{"dense": w, "lexical": w}``, or ``"auto"``: per query, from the index's router)
    and ``candidates`` (per side) apply to ``hybrid``.
    """

    model_config = ConfigDict(extra="forbid")

    query: str | dict[str, Any]
    k: int | None = Field(None, ge=1, description="results (default 10, at most the server's max_search_k)")
    model: str | None = None
    task: str | None = None
    side: str | None = None
    mode: str | None = Field(None, description="dense | lexical | hybrid (default: the server's search_mode)")
    fusion: str | None = Field(None, description="hybrid: rrf (default) | weighted")
    weights: dict[str, float] | Literal["auto"] | None = Field(
        None,
        description='hybrid: {"dense": w, "lexical": w}, non-negative, or "auto" for the index\'s query router '
        "(default: auto when the index has a router, else 1 each)",
    )
    candidates: int | None = Field(
        None,
        ge=1,
        description="hybrid: candidates from each side (default 100, at most max_search_candidates)",
    )

    @field_validator("mode")
    @classmethod
    def _check_mode(cls, value: str | None) -> str | None:
        return _one_of(value, MODES, "mode")

    @field_validator("fusion")
    @classmethod
    def _check_fusion(cls, value: str | None) -> str | None:
        return _one_of(value, tuple(FUSIONS), "fusion")


def _one_of(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    """``value`` when it is a registered name (or ``None``); else a validation error listing the names."""
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def check_wire_item(obj: object, index: int) -> object:
    """Refuse what JSON can carry but the server must not take: unknown keys and non-string media.

    Strings and dicts pass on to :func:`omnivec.inputs.parse_item`, which checks the rest (field types,
    tags) with the same error types.
    """
    if isinstance(obj, str):
        return obj
    if not isinstance(obj, Mapping):
        if isinstance(obj, int | float) or (isinstance(obj, list) and all(isinstance(t, int) for t in obj)):
            raise ItemError(
                "token id arrays are not supported: send text, or an object with text fields and media",
                index=index,
            )
        raise ItemError(f"expected a string or an object, got {_json_type(obj)}", index=index)
    for key in obj:
        if key not in WIRE_KEYS:
            raise UnknownFieldError(
                f"unknown key {key!r}; expected some of {', '.join(WIRE_KEYS)}", index=index, field=str(key)
            )
    for key in ("image", "audio"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise ItemError(f"expected a data URI string, got {_json_type(value)}", index=index, field=key)
    for key in ("images", "video"):
        value = obj.get(key)
        if value is None or (isinstance(value, str) and key == "video"):
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            expected = (
                "a data URI string or a list of image data URIs" if key == "video" else "a list of data URIs"
            )
            raise ItemError(f"expected {expected}, got {_json_type(value)}", index=index, field=key)
    return dict(obj)


def _json_type(value: object) -> str:
    names = {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "an array",
             dict: "an object", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def encode_vector(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    """A vector as OpenAI returns it: a list of floats, or base64 of little-endian float32 bytes."""
    if encoding_format == "base64":
        return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return np.asarray(vector, dtype=np.float32).tolist()


def embedding_payload(
    embeddings: np.ndarray, *, model: str, encoding_format: str, prompt_tokens: int
) -> dict[str, Any]:
    """The JSON body of a ``/v1/embeddings`` answer."""
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode_vector(vec, encoding_format)}
            for i, vec in enumerate(embeddings)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
