"""The TF Serving REST format of SageMaker's TensorFlow Serving container, as pure functions.

An invocation body becomes a predict request (:func:`parse_body`: ``text/csv`` rows, JSON Lines and JSON
as the container reads them), a predict request one batch per input of the serving signature
(:func:`to_columns`), and the model's outputs the response body (:func:`to_response`). The local model
server (``serving.py``) and the batch transform worker (``batch.py``) both answer with these, so an
endpoint and a batch transform treat the same rows alike. Standard library only (numpy when installed,
to read large CSV bodies).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_SIGNATURE = "serving_default"
#: Content types read as JSON Lines (one instance per line).
JSON_LINES_TYPES = ("application/jsonlines", "application/jsons", "application/x-jsonlines")


class InvalidInputError(ValueError):
    """A request body the model cannot take (answered with HTTP 400)."""


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Turn an invocation body into a TF Serving predict request, as SageMaker's TFS container does.

    Args:
        body: The raw request body.
        content_type: ``application/json`` (default), ``application/jsonlines`` (one instance per line) or
            ``text/csv`` (one instance per line).

    JSON: an object naming ``instances`` or ``inputs`` passes through; several JSON values, one per line,
    become ``{"instances": [...]}``; any other value is the container's "generic" JSON: a list of lists
    is the list of instances, anything else one instance.

    Raises:
        InvalidInputError: for a body that is not valid JSON / CSV of numbers.
    """
    kind = (content_type or "application/json").split(";")[0].strip().lower()
    text = body.decode("utf-8", errors="replace")
    if kind == "text/csv":
        fast = _numeric_csv(text)
        if fast is not None:
            return {"instances": fast}
        rows: list[list[float]] = []
        for row in csv.reader(io.StringIO(text)):
            if not row:
                continue
            try:
                rows.append([float(cell) for cell in row])
            except ValueError as exc:
                raise InvalidInputError(f"CSV row is not numeric: {row!r}") from exc
        return {"instances": rows}
    if kind in JSON_LINES_TYPES:
        return {"instances": _json_lines(text)}
    try:
        request = json.loads(text)
    except ValueError as exc:
        if text.strip().count("\n"):
            return {"instances": _json_lines(text)}
        raise InvalidInputError(f"JSON Parse error: {exc}") from exc
    if isinstance(request, dict) and ("instances" in request or "inputs" in request):
        return request
    if isinstance(request, list) and request and isinstance(request[0], list):
        return {"instances": request}
    return {"instances": [request]}


def _numeric_csv(text: str) -> list[Any] | None:
    """Read plain numeric CSV with numpy's C parser; None when it is anything else (the csv module then says why).

    The same numbers as ``float()`` of each cell, many times faster on the large bodies of a batch transform.
    """
    if not text.strip():
        return None
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - a model loader without numpy
        return None
    try:
        rows = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        return None
    return list(rows.tolist())


def _json_lines(text: str) -> list[Any]:
    """Read one JSON value per non-empty line (JSON Lines) as the list of instances."""
    instances = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            instances.append(json.loads(line))
        except ValueError as exc:
            raise InvalidInputError(f"JSON Parse error on line {number}: {exc}") from exc
    return instances


def to_columns(request: Mapping[str, Any], input_names: Sequence[str]) -> tuple[dict[str, Any], bool]:
    """Turn a TF Serving predict request into one batch per input.

    Args:
        request: ``{"instances": [...]}`` (row format) or ``{"inputs": ...}`` (columnar format),
            optionally with ``signature_name``.
        input_names: Inputs of the serving signature.

    Returns:
        ``(inputs, row_format)``: input name -> batch, and whether the request used the row format.

    Raises:
        InvalidInputError: for a request TF Serving would refuse.
    """
    signature = request.get("signature_name", DEFAULT_SIGNATURE)
    if signature != DEFAULT_SIGNATURE:
        raise InvalidInputError(f'Serving signature name: "{signature}" not found in signature def')
    if ("instances" in request) == ("inputs" in request):
        raise InvalidInputError(
            "Missing 'inputs' or 'instances' key"
            if "instances" not in request
            else "Request must have either 'instances' or 'inputs', not both"
        )
    if "instances" in request:
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise InvalidInputError("'instances' must be a non-empty JSON list")
        if all(isinstance(item, dict) for item in instances):
            keys = set(instances[0])
            if any(set(item) != keys for item in instances):
                raise InvalidInputError("Every instance must name the same inputs")
            return {key: [item[key] for item in instances] for key in instances[0]}, True
        if len(input_names) != 1:
            raise InvalidInputError(
                f"The signature has {len(input_names)} inputs ({', '.join(input_names)}): "
                "each instance must be an object naming them"
            )
        return {input_names[0]: instances}, True
    inputs = request["inputs"]
    if isinstance(inputs, dict):
        return dict(inputs), False
    if len(input_names) != 1:
        raise InvalidInputError(
            f"The signature has {len(input_names)} inputs ({', '.join(input_names)}): "
            "'inputs' must be an object naming them"
        )
    return {input_names[0]: inputs}, False


def to_response(outputs: Mapping[str, Any], row_format: bool) -> dict[str, Any]:
    """Turn model outputs into TF Serving's response body.

    Row format: ``{"predictions": batch}`` for one output, else one object per instance.
    Columnar format: ``{"outputs": batch}`` for one output, else ``{"outputs": {name: batch}}``.
    """
    names = sorted(outputs)
    if not row_format:
        return {"outputs": outputs[names[0]] if len(names) == 1 else {k: outputs[k] for k in names}}
    if len(names) == 1:
        return {"predictions": outputs[names[0]]}
    size = len(outputs[names[0]])
    return {"predictions": [{k: outputs[k][i] for k in names} for i in range(size)]}


def plain_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Return a model's outputs as JSON-able nested lists: numpy arrays converted, bytes decoded as UTF-8."""
    return {name: _plain(value) for name, value in outputs.items()}


def _plain(value: Any) -> Any:
    if not hasattr(value, "tolist"):
        return value
    values = value.tolist()
    if getattr(value, "dtype", None) is not None and value.dtype.kind in ("S", "O"):
        return json.loads(json.dumps(values, default=_text))
    return values


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
