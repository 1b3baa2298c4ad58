"""Item schema, validation and media decoding: what goes in before the model.

Raw items (an :class:`Item`, a dict with the same keys, or a bare string) are validated by
:func:`parse_item` and decoded by :class:`ItemProcessor` into a :class:`DecodedItem`: formatted text
(:func:`format_text`), resized image and video frames, and mono audio at the model's rate. Failures are
:class:`omnivec.errors.ItemError` subclasses that name the item index and field.
"""

from __future__ import annotations

from omnivec.inputs.item import TEXT_FIELDS, DecodedItem, Item, MediaLimits, parse_item
from omnivec.inputs.processor import ItemProcessor
from omnivec.inputs.text import format_text
from omnivec.inputs.video import uniform_indices

__all__ = [
    "TEXT_FIELDS",
    "DecodedItem",
    "Item",
    "ItemProcessor",
    "MediaLimits",
    "format_text",
    "parse_item",
    "uniform_indices",
]
