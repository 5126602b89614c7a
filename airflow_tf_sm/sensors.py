"""Old import path of the sensors (kept for code that imports from here): they live in their slices.

Names load on first use, like the package's public API.
"""

from __future__ import annotations

from airflow_tf_sm.exports import lazy_getattr

_EXPORTS = {
    "EndpointSensor": "airflow_tf_sm.hosting.sensor",
    "TrainingJobSensor": "airflow_tf_sm.training.sensor",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
