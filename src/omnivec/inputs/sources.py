"""Where media bytes come from: local paths, raw bytes and data URIs, and the rule that guards them.

Every image, video and audio value that is not already decoded (a PIL image, a numpy array) passes
through :func:`resolve_source`, which turns it into a :class:`MediaSource` (a checked local file or an
in-memory byte string) or refuses it:

* ``http(s)://`` and any other ``scheme://`` string is refused: omnivec never fetches URLs.
* ``data:[<mime>][;base64],<payload>`` strings are decoded and then treated as bytes.
* bytes larger than :attr:`MediaLimits.max_bytes` are refused before they are decoded; so are files.
* path strings (and :class:`pathlib.Path`) follow :class:`SourcePolicy`: relative paths resolve against
  ``base_dir``; with ``allow_paths=False`` and no ``media_root`` every path is refused (server mode);
  with a ``media_root`` a path must resolve (``..`` and symlinks resolved) to a file inside it.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote_to_bytes

import av

from omnivec.errors import ItemError, MediaDecodeError, MediaLimitError

__all__ = ["MediaSource", "SourcePolicy", "describe", "is_source_like", "open_av", "resolve_source"]

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_NAME_MAX = 80


@dataclass(frozen=True)
class SourcePolicy:
    """How path strings are resolved and which ones are allowed (see the module docstring)."""

    max_bytes: int
    base_dir: Path | None = None
    allow_paths: bool = True
    media_root: Path | None = None  # already resolved


@dataclass(frozen=True)
class MediaSource:
    """A media payload ready for a decoder: exactly one of ``path`` (checked, resolved) and ``data``."""

    name: str  # what error messages call it: the path as given, "<N bytes>", "<data URI, N bytes>"
    path: Path | None = None
    data: bytes | None = None

    def open(self) -> IO[bytes]:
        """A fresh binary file object over the payload (the caller closes it)."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return self.path.open("rb")


def describe(value: object) -> str:
    """A short, quoted name of a media value for error messages."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    text = str(value)
    if text.startswith("data:"):
        return f"<data URI, {len(text)} characters>"
    if len(text) > _NAME_MAX:
        text = text[: _NAME_MAX - 3] + "..."
    return repr(text)


def is_source_like(value: object) -> bool:
    """True for the value kinds :func:`resolve_source` handles (str, Path, bytes-like)."""
    return isinstance(value, (str, os.PathLike, bytes, bytearray, memoryview))


def resolve_source(value: object, policy: SourcePolicy, *, index: int, field: str) -> MediaSource:
    """Check ``value`` (a path, bytes or a data URI) against ``policy`` and return its source.

    Raises :class:`ItemError` for refused URLs and paths, :class:`MediaLimitError` for payloads over
    ``max_bytes``, :class:`MediaDecodeError` for missing files and malformed data URIs.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        _check_size(len(data), describe(value), policy, index=index, field=field)
        return MediaSource(name=describe(value), data=data)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:5].lower() == "data:":
            return _from_data_uri(stripped, policy, index=index, field=field)
        if _URL_RE.match(stripped):
            raise ItemError(
                f"URLs are not fetched ({describe(stripped)}); download the file and pass a path or bytes",
                index=index,
                field=field,
            )
        return _from_path(value, policy, index=index, field=field)
    if isinstance(value, os.PathLike):
        return _from_path(value, policy, index=index, field=field)
    raise ItemError(
        f"expected a path, bytes or a data URI, got {type(value).__name__}", index=index, field=field
    )


def _check_size(size: int, name: str, policy: SourcePolicy, *, index: int, field: str) -> None:
    if size > policy.max_bytes:
        raise MediaLimitError(
            f"{name} is {size} bytes, more than max_bytes={policy.max_bytes}", index=index, field=field
        )


def _from_data_uri(uri: str, policy: SourcePolicy, *, index: int, field: str) -> MediaSource:
    header, sep, payload = uri.partition(",")
    if not sep:
        raise MediaDecodeError("malformed data URI: no ',' after the header", index=index, field=field)
    is_base64 = header.lower().endswith(";base64")
    # Refuse oversized payloads before decoding them (base64 inflates by 4/3).
    estimate = len(payload) * 3 // 4 if is_base64 else len(payload)
    _check_size(estimate, describe(uri), policy, index=index, field=field)
    try:
        if is_base64:
            data = base64.b64decode("".join(payload.split()), validate=True)
        else:
            data = unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as exc:
        raise MediaDecodeError(f"malformed base64 in data URI: {exc}", index=index, field=field) from exc
    name = f"<data URI, {len(data)} bytes>"
    _check_size(len(data), name, policy, index=index, field=field)
    if not data:
        raise MediaDecodeError("data URI has an empty payload", index=index, field=field)
    return MediaSource(name=name, data=data)


def _from_path(value: str | os.PathLike[str], policy: SourcePolicy, *, index: int, field: str) -> MediaSource:
    name = describe(os.fspath(value))
    if not policy.allow_paths and policy.media_root is None:
        raise ItemError(
            f"local paths are not allowed here ({name}); send the media as bytes or a data URI",
            index=index,
            field=field,
        )
    try:
        path = Path(value)
        if policy.media_root is None:
            path = path.expanduser()
        if not path.is_absolute():
            base = policy.base_dir or policy.media_root
            path = (base / path) if base is not None else (Path.cwd() / path)
        resolved = path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, symlink loops, ...
        raise ItemError(f"invalid path {name}: {exc}", index=index, field=field) from exc
    if policy.media_root is not None and not resolved.is_relative_to(policy.media_root):
        raise ItemError(f"path {name} is outside the media root", index=index, field=field)
    try:
        if not resolved.is_file():
            raise MediaDecodeError(f"could not decode {name}: file not found", index=index, field=field)
        size = resolved.stat().st_size
    except OSError as exc:
        raise MediaDecodeError(f"could not decode {name}: {exc}", index=index, field=field) from exc
    _check_size(size, name, policy, index=index, field=field)
    return MediaSource(name=name, path=resolved)


def _refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> IO[bytes]:
    """PyAV ``io_open`` hook: a container (HLS playlist, concat list, ...) may not open other files."""
    raise PermissionError(f"media containers may not open other files or URLs ({url[:_NAME_MAX]!r})")


@contextmanager
def open_av(src: MediaSource) -> Iterator[av.container.InputContainer]:
    """Open ``src`` with PyAV for reading, from a Python file object and with nested opens refused.

    FFmpeg never sees a path string (so no ``concat:``/protocol tricks) and formats that reference other
    resources (HLS, DASH, concat lists) cannot follow those references.
    """
    with ExitStack() as stack:
        fp = stack.enter_context(src.open())
        container = av.open(fp, mode="r", io_open=_refuse_nested_open, metadata_errors="replace")
        stack.enter_context(container)
        yield container
