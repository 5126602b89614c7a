"""Lazy exports: a module's public names loaded from their defining modules on first use.

The package's ``__init__``, the old import paths (``operators``, ``sensors``, ``triggers``) and the local
backend package keep a ``name -> module`` table and get their module ``__getattr__`` from here, so
importing them costs nothing until a name is used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(module_name: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that imports ``table[name]`` and caches the name in the module.

    Args:
        module_name: The module that exports the names (its ``__name__``).
        table: Public name -> module that defines it.
    """

    def __getattr__(name: str) -> Any:
        source = table.get(name)
        if source is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(sys.modules[module_name], name, value)
        return value

    return __getattr__
