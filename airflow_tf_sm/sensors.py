"""Old import path of the sensors (kept for code that imports from here): they live in their slices.

Names load on first use, like the package's public API.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EndpointSensor": "airflow_tf_sm.hosting.sensor",
    "TrainingJobSensor": "airflow_tf_sm.training.sensor",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a name from its slice on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
