"""The words read as true or false: settings, templates, hyperparameter flags and training scripts alike.

Example:
    >>> parse_bool("False"), parse_bool("yes")
    (False, True)
"""

from __future__ import annotations

from typing import Any

#: The words read as true / false, everywhere (settings, templates, hyperparameter flags, scripts).
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "off"})


def parse_bool(value: Any) -> bool:
    """Parse a boolean the way a human means it (``True``/``"true"``/``"yes"``/``"1"``; ``"False"`` is false).

    Raises:
        ValueError: for anything else, e.g. ``"maybe"`` or ``2``.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
    raise ValueError(f"not a boolean: {value!r} (use true/false, yes/no or 1/0)")


def is_true(value: Any) -> bool:
    """Return True when ``value`` reads as true (anything else, including unreadable text, is false)."""
    try:
        return parse_bool(value)
    except ValueError:
        return False
