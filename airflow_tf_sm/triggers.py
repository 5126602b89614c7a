"""Old import path of the triggers (kept for code that imports from here): they live in their slices.

Deferred tasks serialized with ``airflow_tf_sm.triggers.<Trigger>`` still resume.
Names load on first use, like the package's public API.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EndpointTrigger": "airflow_tf_sm.hosting.trigger",
    "TrainingJobTrigger": "airflow_tf_sm.training.trigger",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a name from its slice on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
