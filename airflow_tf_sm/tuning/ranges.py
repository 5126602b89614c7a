"""Hyperparameter ranges in the SageMaker SDK v2 vocabulary, their rules and their request shapes.

A range is written either as an object (``ContinuousParameter(0.001, 0.1, "Logarithmic")``,
``IntegerParameter(16, 256)``, ``CategoricalParameter(["relu", "tanh"])``, as SDK users know them) or as a
plain mapping (``{"type": "continuous", "min_value": 0.001, "max_value": 0.1, "scaling_type": "Logarithmic"}``,
``{"type": "categorical", "values": ["relu", "tanh"]}``), which is what templates and config files give.
Pure: no I/O. The request shapes are the SDK's for a framework estimator: Min/Max as ``str()`` of the
value, ``ScalingType`` always present, categorical values ``str()``-ed and then JSON-encoded once more.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_tf_sm.exceptions import FieldError
from airflow_tf_sm.sagemaker.hyperparameters import RESERVED_PREFIX
from airflow_tf_sm.sagemaker.limits import MAX_CATEGORICAL_VALUES, MAX_HYPERPARAMETER_KEY_LEN, MAX_RANGE_TEXT_LEN

__all__ = ["CategoricalParameter", "ContinuousParameter", "IntegerParameter", "ParameterRange", "Range"]

#: ScalingType values and the range types they apply to.
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
RANGE_TYPES = ("continuous", "integer", "categorical")
#: Request keys of each range type, in the SDK's order (Continuous, Categorical, Integer).
REQUEST_KEYS = {
    "continuous": "ContinuousParameterRanges",
    "categorical": "CategoricalParameterRanges",
    "integer": "IntegerParameterRanges",
}


class ParameterRange:
    """Base of the range objects (SDK ``sagemaker.parameter`` vocabulary)."""

    kind = ""

    def to_mapping(self) -> dict[str, Any]:
        """Return the range as the plain mapping a config file would hold."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParameterRange) and self.to_mapping() == other.to_mapping()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_mapping(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_mapping().items() if k != "type")
        return f"{type(self).__name__}({fields})"


class _NumericParameter(ParameterRange):
    """Base of the numeric ranges."""

    def __init__(self, min_value: float, max_value: float, scaling_type: str = "Auto") -> None:
        """Keep the bounds and the scaling (checked when the spec is built)."""
        self.min_value = min_value
        self.max_value = max_value
        self.scaling_type = scaling_type

    def to_mapping(self) -> dict[str, Any]:
        """Return ``{"type": <kind>, "min_value", "max_value", "scaling_type"}``."""
        return {
            "type": self.kind,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "scaling_type": self.scaling_type,
        }


class ContinuousParameter(_NumericParameter):
    """A continuous range ``[min_value, max_value]``.

    Args:
        min_value: Smallest value.
        max_value: Largest value.
        scaling_type: ``Auto``, ``Linear``, ``Logarithmic`` (values > 0) or ``ReverseLogarithmic``
            (``0 <= values < 1``).

    Example:
        >>> ContinuousParameter(0.001, 0.1, "Logarithmic").to_mapping()["scaling_type"]
        'Logarithmic'
    """

    kind = "continuous"


class IntegerParameter(_NumericParameter):
    """An integer range ``[min_value, max_value]`` (``ReverseLogarithmic`` is for continuous ranges only).

    Args:
        min_value: Smallest value.
        max_value: Largest value.
        scaling_type: ``Auto``, ``Linear`` or ``Logarithmic`` (values > 0).
    """

    kind = "integer"


class CategoricalParameter(ParameterRange):
    """A list of values to choose from (each is passed to the script as its ``str()``, like the SDK does).

    Args:
        values: The values (a single value is taken as a list of one).
    """

    kind = "categorical"

    def __init__(self, values: Sequence[Any] | Any) -> None:
        self.values = list(values) if isinstance(values, (list, tuple)) else [values]

    def to_mapping(self) -> dict[str, Any]:
        """Return ``{"type": "categorical", "values": [...]}``."""
        return {"type": self.kind, "values": list(self.values)}


_CLASSES: dict[str, type[ParameterRange]] = {
    "continuous": ContinuousParameter,
    "integer": IntegerParameter,
    "categorical": CategoricalParameter,
}
_KEYS = {
    "continuous": ("type", "min_value", "max_value", "scaling_type"),
    "integer": ("type", "min_value", "max_value", "scaling_type"),
    "categorical": ("type", "values"),
}


@dataclass(frozen=True)
class Range:
    """One checked range of one hyperparameter.

    Attributes:
        name: The hyperparameter.
        kind: ``continuous``, ``integer`` or ``categorical``.
        min_value: Smallest value (numeric ranges).
        max_value: Largest value (numeric ranges).
        scaling_type: ScalingType (numeric ranges).
        values: The values (categorical ranges), as written.
    """

    name: str
    kind: str
    min_value: float | int | None = None
    max_value: float | int | None = None
    scaling_type: str = "Auto"
    values: tuple[Any, ...] = ()

    def to_request(self) -> dict[str, Any]:
        """Return the range as the SDK sends it for a framework estimator."""
        if self.kind == "categorical":
            return {"Name": self.name, "Values": [json.dumps(str(value)) for value in self.values]}
        return {
            "Name": self.name,
            "MinValue": str(self.min_value),
            "MaxValue": str(self.max_value),
            "ScalingType": self.scaling_type,
        }


def as_mapping(spec: Any) -> Any:
    """Return a range object (or the JSON text of a range, from a template) as its mapping; anything else unchanged."""
    if isinstance(spec, str) and spec.strip().startswith("{"):
        try:
            return json.loads(spec)
        except ValueError:
            return spec
    return spec.to_mapping() if isinstance(spec, ParameterRange) else spec


def _number(value: Any, integer: bool) -> float | int | None:
    """Read a number (or numeric text from a template); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip()) if not integer else int(value.strip())
        except ValueError:
            try:
                value = float(value.strip())
            except ValueError:
                return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if integer:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) else None
    return value if isinstance(value, (int, float)) else None


def _numeric_errors(where: str, kind: str, spec: Mapping[str, Any]) -> tuple[list[FieldError], Range | None]:
    integer = kind == "integer"
    what = "an integer" if integer else "a number"
    problems: list[FieldError] = []
    bounds: dict[str, float | int] = {}
    for key in ("min_value", "max_value"):
        if key not in spec:
            problems.append(FieldError(f"{where}.{key}", None, f"required: {what}"))
            continue
        number = _number(spec[key], integer)
        if number is None:
            problems.append(FieldError(f"{where}.{key}", spec[key], f"must be {what}"))
        else:
            bounds[key] = number
    scaling = spec.get("scaling_type", "Auto")
    if scaling not in SCALING_TYPES or (integer and scaling == "ReverseLogarithmic"):
        allowed = SCALING_TYPES[:3] if integer else SCALING_TYPES
        rule = f"must be one of {', '.join(allowed)}"
        if integer and scaling == "ReverseLogarithmic":
            rule = "ReverseLogarithmic is for continuous ranges only; " + rule
        problems.append(FieldError(f"{where}.scaling_type", scaling, rule))
    if len(bounds) < 2:
        return problems, None
    low, high = bounds["min_value"], bounds["max_value"]
    if low > high or (not integer and low == high):
        rule = "must be smaller than max_value" if not integer else "must not be larger than max_value"
        problems.append(FieldError(f"{where}.min_value", low, f"{rule} ({high})"))
    if scaling == "Logarithmic" and low <= 0:
        problems.append(FieldError(f"{where}.min_value", low, "Logarithmic scaling needs values > 0"))
    if scaling == "ReverseLogarithmic" and not (0 <= low and high < 1):
        problems.append(FieldError(f"{where}", [low, high], "ReverseLogarithmic scaling needs 0 <= values < 1"))
    for key, number in bounds.items():
        if len(str(number)) > MAX_RANGE_TEXT_LEN:
            problems.append(FieldError(f"{where}.{key}", number, f"at most {MAX_RANGE_TEXT_LEN} characters"))
    if problems:
        return problems, None
    return [], Range(name=where.split(".", 1)[1], kind=kind, min_value=low, max_value=high, scaling_type=scaling)


def _categorical_errors(where: str, spec: Mapping[str, Any]) -> tuple[list[FieldError], Range | None]:
    values = spec.get("values")
    if values is not None and not isinstance(values, (list, tuple)):
        values = [values]
    if not values:
        return [FieldError(f"{where}.values", values, "required: a list of 1-30 values")], None
    problems = []
    if len(values) > MAX_CATEGORICAL_VALUES:
        problems.append(FieldError(f"{where}.values", len(values), f"at most {MAX_CATEGORICAL_VALUES} values"))
    texts = [str(value) for value in values]
    if len(set(texts)) != len(texts):
        problems.append(FieldError(f"{where}.values", list(values), "values must be distinct"))
    for index, value in enumerate(values):
        if isinstance(value, (Mapping, list, tuple)) or value is None:
            problems.append(FieldError(f"{where}.values[{index}]", value, "must be a string, number or boolean"))
        elif len(json.dumps(str(value))) > MAX_RANGE_TEXT_LEN:
            problems.append(FieldError(f"{where}.values[{index}]", value, f"at most {MAX_RANGE_TEXT_LEN} characters"))
    if problems:
        return problems, None
    return [], Range(name=where.split(".", 1)[1], kind="categorical", values=tuple(values))


def parse_range(name: Any, spec: Any) -> tuple[list[FieldError], Range | None]:
    """Check one range (object or mapping); return its problems and, when it is valid, the :class:`Range`."""
    where = f"hyperparameter_ranges.{name}"
    problems: list[FieldError] = []
    if not isinstance(name, str) or not name:
        return [FieldError(where, name, "hyperparameter names must be non-empty strings")], None
    if name.startswith(RESERVED_PREFIX):
        problems.append(FieldError(where, name, f"names starting with {RESERVED_PREFIX!r} are reserved"))
    if len(name) > MAX_HYPERPARAMETER_KEY_LEN:
        problems.append(FieldError(where, name, f"name longer than {MAX_HYPERPARAMETER_KEY_LEN} characters"))
    spec = as_mapping(spec)
    if not isinstance(spec, Mapping):
        rule = (
            'must be a range: {"type": "continuous"|"integer", "min_value", "max_value", "scaling_type"}, '
            '{"type": "categorical", "values": [...]} or a ContinuousParameter/IntegerParameter/CategoricalParameter'
        )
        return [*problems, FieldError(where, spec, rule)], None
    kind = spec.get("type")
    if kind not in RANGE_TYPES:
        rule = f"required: one of {', '.join(RANGE_TYPES)}"
        return [*problems, FieldError(f"{where}.type", kind, rule)], None
    for key in spec:
        if key not in _KEYS[kind]:
            problems.append(FieldError(f"{where}.{key}", spec[key], f"unknown key; known: {', '.join(_KEYS[kind])}"))
    found, parsed = _categorical_errors(where, spec) if kind == "categorical" else _numeric_errors(where, kind, spec)
    problems.extend(found)
    return problems, (None if problems else parsed)


def parse_ranges(ranges: Mapping[str, Any]) -> tuple[list[FieldError], list[Range]]:
    """Check every range; return the problems and the valid ranges (in the order given)."""
    problems: list[FieldError] = []
    parsed: list[Range] = []
    for name, spec in ranges.items():
        found, item = parse_range(name, spec)
        problems.extend(found)
        if item is not None:
            parsed.append(item)
    return problems, parsed


def ranges_request(ranges: Sequence[Range]) -> dict[str, list[dict[str, Any]]]:
    """Return ``ParameterRanges``: every type's list present (empty ones too), like the SDK."""
    request: dict[str, list[dict[str, Any]]] = {key: [] for key in REQUEST_KEYS.values()}
    for item in ranges:
        request[REQUEST_KEYS[item.kind]].append(item.to_request())
    return request


def grid_size(ranges: Sequence[Range]) -> int:
    """Return the number of combinations of categorical ranges (a grid search runs each once)."""
    return math.prod(len(item.values) for item in ranges)
