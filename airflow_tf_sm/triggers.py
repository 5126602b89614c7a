"""Old import path of the triggers (kept for code that imports from here): they live in their slices.

Deferred tasks serialized with ``airflow_tf_sm.triggers.<Trigger>`` still resume.
Names load on first use, like the package's public API.
"""

from __future__ import annotations

from airflow_tf_sm.exports import lazy_getattr

_EXPORTS = {
    "EndpointTrigger": "airflow_tf_sm.hosting.trigger",
    "TrainingJobTrigger": "airflow_tf_sm.training.trigger",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
