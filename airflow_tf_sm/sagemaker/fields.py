"""Typed settings: coerce and check the fields of a spec dataclass from its type hints.

Every spec of the package (training, tuning, transform) is a frozen dataclass whose fields speak the
SageMaker SDK v2 vocabulary. This module is the one engine that reads a rendered mapping into such a
dataclass: text from templates becomes the hinted type (``"2"`` -> ``2``, ``"true"`` -> ``True``, JSON text
-> a mapping or list), unknown keys get suggestions, and all problems are reported together.

"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError
from airflow_tf_sm.sagemaker.booleans import FALSE_WORDS, TRUE_WORDS
from airflow_tf_sm.sagemaker.s3 import S3UriError, parse_s3_uri

_INT_TEXT_RE = re.compile(r"^[+-]?\d+$")
_NO_VALUE = object()
SpecT = TypeVar("SpecT")
#: Deepest nesting of lists and mappings a setting may have: deeper values are refused before any copy,
#: encoding or rendering (which recurse, and would fail with a RecursionError thousands of levels down).
MAX_NESTING = 32


def nesting_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """Return how many levels of lists and mappings nest in ``value``, stopping once past ``limit``.

    Iterative, so any depth (or a structure that contains itself) is measured without recursion.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        stack.extend((child, depth + 1) for child in children)
    return deepest


def nesting_errors(field: str, value: Any, limit: int = MAX_NESTING) -> list[FieldError]:
    """Return the problem of a value nested deeper than ``limit`` levels (empty when it is not)."""
    if nesting_depth(value, limit) <= limit:
        return []
    shown = f"<{type(value).__name__} nested over {limit} levels deep>"
    return [FieldError(field, shown, f"lists and mappings may nest at most {limit} levels deep")]


def field_hints(cls: type) -> dict[str, Any]:
    """Return field name -> type hint of a dataclass, in field order."""
    hints = typing.get_type_hints(cls)
    return {spec_field.name: hints[spec_field.name] for spec_field in dataclasses.fields(cls)}


def options(hint: Any) -> tuple[Any, ...]:
    """Return the alternatives of a union hint (or the hint alone)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _container_kind(hint: Any) -> str | None:
    origin = typing.get_origin(hint) or hint
    if not isinstance(origin, type) or origin is str:
        return None
    if issubclass(origin, Mapping):
        return "mapping"
    if issubclass(origin, Sequence):
        return "list"
    return None


def matches(value: Any, hint: Any) -> bool:
    """Return whether ``value`` has the (outer) type ``hint`` names; bools are not integers here."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    kind = _container_kind(hint)
    if kind == "mapping":
        return isinstance(value, Mapping)
    if kind == "list":
        return isinstance(value, (list, tuple))
    if isinstance(hint, type):
        return isinstance(value, hint)
    return False


def describe(alternatives: Sequence[Any]) -> str:
    """Say in words which types ``alternatives`` allow (``an integer or null``)."""
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    words = []
    for option in alternatives:
        kind = _container_kind(option)
        words.append(
            names.get(option)
            or {"mapping": "a mapping", "list": "a list"}.get(kind or "", getattr(option, "__name__", str(option)))
        )
    return " or ".join(words)


def coerce(value: Any, alternatives: Sequence[Any]) -> tuple[Any, str | None]:
    """Coerce ``value`` to one of the typed ``alternatives``; return (value, None) or (value, broken rule)."""
    if isinstance(value, str):
        converted = _from_text(value, alternatives)
        if converted is not _NO_VALUE:
            return converted, None
    if any(matches(value, option) for option in alternatives):
        return value, None
    if isinstance(value, float) and value.is_integer() and int in alternatives:
        return int(value), None
    return value, f"must be {describe(alternatives)}"


def _from_text(text: str, alternatives: Sequence[Any]) -> Any:
    """Read a scalar, null or JSON container out of text when the alternatives allow it (else _NO_VALUE)."""
    word = text.strip().lower()
    if bool in alternatives:
        # with a text alternative only the canonical words are a boolean ("yes" stays text)
        words = ("true", "false") if str in alternatives else TRUE_WORDS | FALSE_WORDS
        if word in words and not (int in alternatives and word.isdigit()):
            return word in TRUE_WORDS
    if str in alternatives:
        return text
    if type(None) in alternatives and word in ("", "none", "null"):
        return None
    if int in alternatives and _INT_TEXT_RE.match(word):
        return int(word)
    if float in alternatives:
        try:
            return float(word)
        except ValueError:
            pass
    if word.startswith(("{", "[")) and any(_container_kind(option) for option in alternatives):
        try:
            loaded = json.loads(text)
        except (ValueError, RecursionError):
            return _NO_VALUE
        if any(matches(loaded, option) for option in alternatives):
            return loaded
    return _NO_VALUE


def top(field_name: str) -> str:
    """Return the top-level setting of a dotted field path (``inputs.train.s3_data`` -> ``inputs``)."""
    return re.split(r"[.\[]", field_name, maxsplit=1)[0]


def unknown_rule(name: str, known: Sequence[str], what: str) -> str:
    """Return the rule of an unknown key, with close matches as suggestions."""
    import difflib

    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(match) for match in close)}? " if close else ""
    return f"unknown {what}; {hint}known: {', '.join(known)}"


def version_tuple(version: str) -> tuple[int, ...] | None:
    """Return ``(2, 19, 0)`` for ``"2.19.0"`` (None when the text is not a dotted number)."""
    parts = str(version).strip().split(".")
    if not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def copy_containers(spec: Any) -> None:
    """Deep-copy the mapping and list fields of a frozen dataclass (so it never shares state with its input)."""
    for spec_field in dataclasses.fields(spec):
        value = getattr(spec, spec_field.name)
        if isinstance(value, Mapping):
            object.__setattr__(spec, spec_field.name, copy.deepcopy(dict(value)))
        elif isinstance(value, (list, tuple)):
            object.__setattr__(spec, spec_field.name, copy.deepcopy(list(value)))


def type_errors(spec: Any) -> tuple[list[FieldError], set[str]]:
    """Return the fields of ``spec`` whose value does not have the hinted type, and the names that do."""
    problems: list[FieldError] = []
    typed: set[str] = set()
    for name, hint in field_hints(type(spec)).items():
        value = getattr(spec, name)
        alternatives = options(hint)
        if any(matches(value, option) for option in alternatives):
            typed.add(name)
        else:
            problems.append(FieldError(name, value, f"must be {describe(alternatives)}"))
    return problems, typed


def build(
    cls: type[SpecT],
    mapping: Mapping[str, Any],
    *,
    required: Mapping[str, Any],
    errors: Callable[[SpecT], list[FieldError]],
    what: str,
    known: Sequence[str] | None = None,
) -> SpecT:
    """Build a spec dataclass from a rendered mapping, coercing every setting and checking every rule.

    A null value for a setting that cannot be null means "use the default".

    Args:
        cls: The spec dataclass.
        mapping: Setting name -> value.
        required: Placeholder values for required fields, so the spec can be built and report them.
        errors: Returns every broken rule of the built spec.
        what: What the settings describe, for the error message (``training job configuration``).
        known: Names to accept and to suggest (default: the dataclass fields).

    Raises:
        ConfigValidationError: every problem found (unknown keys with suggestions, wrong types, broken rules).
    """
    if not isinstance(mapping, Mapping):
        raise ConfigValidationError([FieldError("config", mapping, "must be a mapping of setting names")], what=what)
    hints = field_hints(cls)
    problems: list[FieldError] = []
    values: dict[str, Any] = {}
    names = list(known or hints)
    for key, raw in mapping.items():
        if key not in hints:
            problems.append(FieldError(str(key), raw, unknown_rule(str(key), names, "setting")))
            continue
        alternatives = options(hints[key])
        if raw is None and type(None) not in alternatives:
            continue  # the default (or, for a required field, "required" from the rules)
        too_deep = nesting_errors(str(key), raw)
        value, rule = (raw, None) if too_deep else coerce(raw, alternatives)
        too_deep = too_deep or nesting_errors(str(key), value)  # JSON text that decodes deep
        if too_deep:
            problems.extend(too_deep)
        elif rule:
            problems.append(FieldError(key, raw, rule))
        else:
            values[key] = value
    spec = cls(**{**required, **values})
    reported = {top(problem.field) for problem in problems}
    problems.extend(problem for problem in errors(spec) if top(problem.field) not in reported)
    if problems:
        raise ConfigValidationError(problems, what=what)
    return spec


def deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``overrides`` into ``base`` in place: mappings merge recursively, other values replace."""
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def s3_uri_errors(field: str, value: object, *, need_key: bool = False) -> list[FieldError]:
    """Return the problems of an ``s3://`` URI setting as field errors (empty when it is fine)."""
    try:
        parse_s3_uri(value, need_key=need_key)  # type: ignore[arg-type]
    except S3UriError as exc:
        rule = str(exc).split(" ", 1)[1] if str(exc).startswith(repr(value)) else str(exc)
        return [FieldError(field, value, rule.lstrip(": "))]
    return []
