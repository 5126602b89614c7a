"""Old import path of the operators (kept for code that imports from here): they live in their slices.

Names load on first use, like the package's public API.
"""

from __future__ import annotations

from airflow_tf_sm.exports import lazy_getattr

_EXPORTS = {
    "DeleteEndpointOperator": "airflow_tf_sm.hosting.operator",
    "TFDeployOperator": "airflow_tf_sm.hosting.operator",
    "TFTrainingOperator": "airflow_tf_sm.training.operator",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
