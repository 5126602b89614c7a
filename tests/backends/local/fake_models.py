"""A model loader without TensorFlow for the local serving tests.

The server uses it with ``AIRFLOW_TF_SM_LOCAL_MODEL_LOADER=fake_models:load``. The model archive holds
``fake.json``: ``{"weights": [w0, w1, ...], "bias": b}`` (one output ``score = x . w + b`` per row),
optionally ``"load_seconds"`` (slow loading) or ``"fail"`` (loading raises with that message).
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.serving import InvalidInputError, ModelLoadError


class LinearModel:
    """``score = features . weights + bias`` for each row of the input ``features``."""

    input_names = ("features",)

    def __init__(self, weights: list[float], bias: float) -> None:
        self.weights = weights
        self.bias = bias

    def predict(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        rows = inputs.get("features")
        if set(inputs) != {"features"} or not isinstance(rows, list):
            raise InvalidInputError("expected the input 'features'")
        scores = []
        for row in rows:
            if not isinstance(row, list) or len(row) != len(self.weights):
                raise InvalidInputError(f"each row needs {len(self.weights)} numbers")
            scores.append([sum(x * w for x, w in zip(row, self.weights, strict=True)) + self.bias])
        return {"score": scores}


def load(model_dir: Path) -> LinearModel:
    """Load ``fake.json`` from an extracted model archive."""
    path = model_dir / "fake.json"
    if not path.is_file():
        raise ModelLoadError("fake.json missing from model.tar.gz")
    spec = json.loads(path.read_text())
    time.sleep(float(spec.get("load_seconds", 0)))
    if spec.get("fail"):
        raise ModelLoadError(spec["fail"])
    return LinearModel(list(spec["weights"]), float(spec["bias"]))


def model_tar(files: dict[str, bytes]) -> bytes:
    """Return a model.tar.gz holding ``files`` (name -> bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def fake_model_tar(weights: list[float], bias: float, **extra: Any) -> bytes:
    """Return a model.tar.gz of a fake linear model."""
    return model_tar({"fake.json": json.dumps({"weights": weights, "bias": bias, **extra}).encode()})
