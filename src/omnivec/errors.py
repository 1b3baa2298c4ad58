"""The one error hierarchy of omnivec.

Every message names what went wrong and where: the item index, the field, the setting. Batch jobs catch
:class:`ItemError` per item, skip that item and report it; everything else is a configuration problem and
stops the job before it starts.
"""

from __future__ import annotations


class OmnivecError(Exception):
    """Base class of every error omnivec raises on purpose."""


class ConfigError(OmnivecError, ValueError):
    """A configuration, architecture or recipe value is invalid. The message names the key."""


class ItemError(OmnivecError, ValueError):
    """One input item is unusable. Carries the item index and field so batch jobs can report it."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None) -> None:
        self.index = index
        self.field = field
        self.reason = message
        where = []
        if index is not None:
            where.append(f"item {index}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ": ".join([", ".join(where)]) + ": " if where else ""
        super().__init__(prefix + message)

    def with_index(self, index: int) -> ItemError:
        """Return the same error, re-addressed to position ``index`` of the caller's batch."""
        err = type(self)(self.reason, index=index, field=self.field)
        err.__cause__ = self.__cause__
        return err


class EmptyItemError(ItemError):
    """The item has no usable modality (no text, image, video or audio)."""


class UnknownFieldError(ItemError):
    """The item has a key omnivec does not know."""


class MediaDecodeError(ItemError):
    """A media payload (image, video, audio) could not be read or decoded."""


class MediaLimitError(ItemError):
    """A media payload or text exceeds a configured limit (bytes, pixels, frames, seconds, characters)."""


class DataFormatError(OmnivecError, ValueError):
    """A dataset file is missing columns or has values of the wrong type. The message names file and column."""
