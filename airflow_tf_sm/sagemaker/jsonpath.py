"""The JSONPath subset of batch transform's ``InputFilter`` and ``OutputFilter``, parsed and applied.

SageMaker's developer guide ("Associate Prediction Results with Input Records") documents these
operators, and only these:

=============================  ======================================================================
``$``                          the root element; every expression starts with it
``.<name>``                    a dot-notated child element
``*``                          a wildcard, in place of a name or an index (``$.*``, ``$[*]``)
``['<name>'(,'<name>')]``      a bracket-notated child, or several children (an object of them is built)
``[<n>(,<n>)]``                an index, or several (an array of them is built); ``-1`` is the last one
``[<start>:<end>]``            an array slice; no start: from the first element, no end: to the last
=============================  ======================================================================

A CSV record is read as a JSON array of its cells, so ``$[1:]`` drops the first column and ``$[0,-1]``
keeps the first and the last. Several names in one bracket must end the expression (SageMaker does not
nest children inside such a bracket). A filter *builds* a value: a single name or index gives that
element, several indexes, a slice or a wildcard give an array, several names give an object; steps
after an array-building step apply to each of its elements.

Not a library: the well-kept Python JSONPath package on the index (``jsonpath-ng``) returns the list
of matches, not the value SageMaker builds, and this subset is a few dozen lines.

Example:
    >>> parse("$[1:]").apply(["id-7", "0.5", "1.5"])
    ['0.5', '1.5']
    >>> parse("$['id','SageMakerOutput']").apply({"id": 7, "x": [1], "SageMakerOutput": [0.9]})
    {'id': 7, 'SageMakerOutput': [0.9]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INT = re.compile(r"[+-]?\d+")
#: The rule, in words, for error messages.
SUBSET_RULE = (
    "must be a JSONPath of the subset batch transform supports: $ then .name, .*, [*], ['name'], "
    "['a','b'], [n], [n,m] (negative allowed) or [start:end]"
)


class JsonPathSyntaxError(ValueError):
    """An expression outside the supported JSONPath subset (the message says where)."""


class JsonPathLookupError(LookupError):
    """An expression that does not fit a record: a missing name, an index out of range, a wrong type."""


@dataclass(frozen=True)
class Step:
    """One step of an expression.

    Attributes:
        kind: ``name``, ``names``, ``index``, ``indexes``, ``slice`` or ``wildcard``.
        names: The names of a ``name``/``names`` step.
        indexes: The indexes of an ``index``/``indexes`` step.
        start: Slice start (None: from the first element).
        end: Slice end (None: to the last element).
    """

    kind: str
    names: tuple[str, ...] = ()
    indexes: tuple[int, ...] = ()
    start: int | None = None
    end: int | None = None

    @property
    def builds_array(self) -> bool:
        """True for the steps whose result is an array of selected elements."""
        return self.kind in ("indexes", "slice", "wildcard")


@dataclass(frozen=True)
class JsonPath:
    """A parsed expression (build it with :func:`parse`).

    Attributes:
        text: The expression as written.
        steps: Its steps after ``$``.
    """

    text: str
    steps: tuple[Step, ...]

    @property
    def is_root(self) -> bool:
        """True for ``$`` alone: the whole record."""
        return not self.steps

    def apply(self, value: Any) -> Any:
        """Return the part of ``value`` the expression selects (a new value; ``value`` is not changed).

        Raises:
            JsonPathLookupError: a name the object lacks, an index out of range, or a step that does not
                fit the value's type.
        """
        return _apply(self.steps, value, self.text)


def _apply(steps: tuple[Step, ...], value: Any, text: str) -> Any:
    if not steps:
        return value
    step, rest = steps[0], steps[1:]
    if step.kind in ("name", "names"):
        if not isinstance(value, dict):
            raise JsonPathLookupError(f"{text}: {_kind(value)} has no named children {list(step.names)}")
        missing = [name for name in step.names if name not in value]
        if missing:
            raise JsonPathLookupError(f"{text}: no key {missing[0]!r} (keys: {', '.join(map(str, value)) or 'none'})")
        if step.kind == "name":
            return _apply(rest, value[step.names[0]], text)
        return {name: value[name] for name in step.names}
    if step.kind == "wildcard":
        if isinstance(value, dict):
            selected = list(value.values())
        elif isinstance(value, list):
            selected = list(value)
        else:
            raise JsonPathLookupError(f"{text}: * needs an array or an object, not {_kind(value)}")
        return [_apply(rest, item, text) for item in selected]
    if not isinstance(value, list):
        raise JsonPathLookupError(f"{text}: an index or slice needs an array, not {_kind(value)}")
    if step.kind == "slice":
        return [_apply(rest, item, text) for item in value[step.start : step.end]]
    for index in step.indexes:
        if not -len(value) <= index < len(value):
            raise JsonPathLookupError(f"{text}: index {index} out of range for an array of {len(value)}")
    if step.kind == "index":
        return _apply(rest, value[step.indexes[0]], text)
    return [_apply(rest, value[index], text) for index in step.indexes]


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"the value {value!r}"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> JsonPathSyntaxError:
        return JsonPathSyntaxError(f"{what} at position {self.pos} of {self.text!r}")

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def expect(self, char: str) -> None:
        self.skip_spaces()
        if self.peek() != char:
            raise self.fail(f"expected {char!r}")
        self.pos += 1

    def parse(self) -> JsonPath:
        if not self.text.startswith("$"):
            raise self.fail("an expression starts with '$'")
        self.pos = 1
        steps: list[Step] = []
        while self.pos < len(self.text):
            if steps and steps[-1].kind == "names":
                raise self.fail("several names in one bracket must end the expression")
            char = self.peek()
            if char == ".":
                self.pos += 1
                if self.peek() == "[":
                    continue  # ".['a','b']": a bracket after a dot, as SageMaker's examples write it
                if self.peek() == "*":
                    self.pos += 1
                    steps.append(Step("wildcard"))
                    continue
                match = _NAME.match(self.text, self.pos)
                if match is None:
                    raise self.fail("expected a name after '.'")
                self.pos = match.end()
                steps.append(Step("name", names=(match.group(),)))
            elif char == "[":
                self.pos += 1
                steps.append(self.bracket())
            else:
                raise self.fail(f"unexpected {char!r} (recursive descent '..', filters '?()' are not supported)")
        return JsonPath(self.text, tuple(steps))

    def bracket(self) -> Step:
        self.skip_spaces()
        char = self.peek()
        if char == "*":
            self.pos += 1
            self.expect("]")
            return Step("wildcard")
        if char in ("'", '"'):
            names = [self.quoted()]
            while self._comma():
                names.append(self.quoted())
            self.expect("]")
            return Step("name" if len(names) == 1 else "names", names=tuple(names))
        start = self.integer(optional=True)
        self.skip_spaces()
        if self.peek() == ":":
            self.pos += 1
            end = self.integer(optional=True)
            self.expect("]")
            return Step("slice", start=start, end=end)
        if start is None:
            raise self.fail("expected a quoted name, an index, a slice or '*'")
        indexes = [start]
        while self._comma():
            index = self.integer(optional=False)
            assert index is not None
            indexes.append(index)
        self.expect("]")
        return Step("index" if len(indexes) == 1 else "indexes", indexes=tuple(indexes))

    def _comma(self) -> bool:
        self.skip_spaces()
        if self.peek() == ",":
            self.pos += 1
            self.skip_spaces()
            return True
        return False

    def quoted(self) -> str:
        self.skip_spaces()
        quote = self.peek()
        if quote not in ("'", '"'):
            raise self.fail("expected a quoted name")
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise self.fail("unterminated quoted name")
        name = self.text[self.pos + 1 : end]
        if not name:
            raise self.fail("empty name")
        self.pos = end + 1
        return name

    def integer(self, *, optional: bool) -> int | None:
        self.skip_spaces()
        match = _INT.match(self.text, self.pos)
        if match is None:
            if optional:
                return None
            raise self.fail("expected an index")
        self.pos = match.end()
        return int(match.group())


def parse(text: str) -> JsonPath:
    """Parse an ``InputFilter`` / ``OutputFilter`` expression.

    Raises:
        JsonPathSyntaxError: the text is not in the supported subset (the message says where).
    """
    if not isinstance(text, str):
        raise JsonPathSyntaxError(f"{text!r}: an expression is a string")
    return _Parser(text.strip()).parse()


def syntax_problem(text: str) -> str | None:
    """Return why ``text`` is not a supported expression (None when it is one)."""
    try:
        parse(text)
    except JsonPathSyntaxError as exc:
        return f"{SUBSET_RULE} ({exc})"
    return None
