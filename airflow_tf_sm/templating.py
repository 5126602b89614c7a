"""Render templated job configurations (sandboxed Jinja).

Rendering uses a sandboxed Jinja environment with ``StrictUndefined``: a template may read the task's
context (``params``, ``ds``, ``dag_run.conf``, ``macros``, ...) but cannot reach Python internals, and
a misspelt variable is an error rather than an empty string. Values taken from the context are data:
they are inserted once and never rendered again.

What the sandbox refuses (each a :class:`~airflow_tf_sm.exceptions.ConfigValidationError` naming the
field): attributes starting with ``_`` (``__globals__``, ``cycler.__init__``, ``''.__class__``); any
attribute or item whose value is a module (``macros.uuid``, ``macros.json``: ``macros`` gives its
functions and classes only); other template engines (Jinja environments and templates, an operator's
``render_template*`` and ``get_template_env``); changing lists and dicts; ``range()`` over more than
100,000 items, ``*`` building a string or list over :data:`MAX_SEQUENCE` items, ``**`` with an exponent
over :data:`MAX_EXPONENT`; ``lipsum``. Templates cannot include, import or extend other templates (no
loader), and a config *file* is read only from inside the DAG's folder or its ``template_searchpath``
(``../secret.json``, an absolute path elsewhere or a symlink leading out are refused).
"""

from __future__ import annotations

import functools
import json
import operator
import os
import traceback
import types
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

_JINJA_MARKERS = ("{{", "{%", "{#")
_TEMPLATE_SUFFIX = ".j2"
_FILE_SUFFIXES = (".json", ".yaml", ".yml", _TEMPLATE_SUFFIX)
#: Longest string or list a template may build with ``*``.
MAX_SEQUENCE = 1_000_000
#: Largest exponent of ``**`` between integers.
MAX_EXPONENT = 1_000
#: Attribute names that lead to another (unguarded) template engine.
_ENGINE_ATTRIBUTES = ("render_template", "get_template_env", "template_env")


def _fail(field: str, value: Any, rule: str) -> ConfigValidationError:
    return ConfigValidationError([FieldError(field, value, rule)])


def _multiply(left: Any, right: Any) -> Any:
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | bytes | list | tuple) and isinstance(count, int):
            if len(sequence) * count > MAX_SEQUENCE:
                raise OverflowError(f"the result would have over {MAX_SEQUENCE:,} items: refused in templates")
    return operator.mul(left, right)


def _power(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and abs(right) > MAX_EXPONENT and abs(left) > 1:
        raise OverflowError(f"exponent {right} is over {MAX_EXPONENT:,}: refused in templates")
    return operator.pow(left, right)


@functools.lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    """Return the sandboxed environment used for every template (immutable builtins, strict undefined)."""
    from jinja2 import Environment, StrictUndefined, Template
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
            if isinstance(value, types.ModuleType) or isinstance(obj, Environment | Template):
                return False
            if str(attr).startswith(_ENGINE_ATTRIBUTES):
                return False
            return bool(super().is_safe_attribute(obj, attr, value))

        def getitem(self, obj: Any, argument: Any) -> Any:
            value = super().getitem(obj, argument)
            return self.unsafe_undefined(obj, str(argument)) if isinstance(value, types.ModuleType) else value

        def getattr(self, obj: Any, attribute: str) -> Any:  # ``d.m`` falls back to ``d["m"]``, unchecked
            value = super().getattr(obj, attribute)
            return self.unsafe_undefined(obj, attribute) if isinstance(value, types.ModuleType) else value

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            return (_multiply if operator == "*" else _power if operator == "**" else self.binop_table[operator])(
                left, right
            )

    env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.pop("lipsum", None)  # lipsum(n=10**9) would write without end
    return env


def _template_line(exc: BaseException) -> int | None:
    """Line of the template where ``exc`` happened, when Jinja left it in the traceback."""
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return frames[-1].lineno if frames else None


def _template_error(field: str, text: str, exc: BaseException) -> ConfigValidationError:
    """Turn a Jinja (or template-raised) exception into a ConfigValidationError.

    For multi-line templates the rule names the line and the value is that line's text.
    """
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    value, where = text, ""
    lines = text.splitlines()
    line = _template_line(exc) if len(lines) > 1 else None
    if line is not None and 1 <= line <= len(lines):
        value, where = lines[line - 1].strip(), f" (line {line})"
    return _fail(field, value, f"template rendering failed{where}: {type(exc).__name__}: {message}")


def _single_expression(text: str) -> str | None:
    """Return the expression source when ``text`` is exactly one ``{{ ... }}``, else None."""
    tokens = list(_environment().lex(text))
    begins = [t for t in tokens if t[1] == "variable_begin"]
    if len(begins) != 1 or tokens[0][1] != "variable_begin" or tokens[-1][1] != "variable_end":
        return None
    return "".join(t[2] for t in tokens[1:-1])


def _render_text(text: str, context: Mapping[str, Any], field: str) -> str:
    """Render ``text`` as a template into a string."""
    if not any(marker in text for marker in _JINJA_MARKERS):
        return text
    try:
        return _environment().from_string(text).render(context)
    except Exception as exc:
        raise _template_error(field, text, exc) from exc


def _render_leaf(text: str, context: Mapping[str, Any], field: str) -> Any:
    """Render a string leaf: one ``{{ expr }}`` gives the expression's value, other text a string."""
    if not any(marker in text for marker in _JINJA_MARKERS):
        return text
    from jinja2 import Undefined

    try:
        expression = _single_expression(text)
        if expression is None:
            return _environment().from_string(text).render(context)
        value = _environment().compile_expression(expression, undefined_to_none=False)(context)
        if isinstance(value, Undefined):
            str(value)  # StrictUndefined raises the error that names the missing variable
        return value
    except Exception as exc:
        raise _template_error(field, text, exc) from exc


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _render_value(value: Any, context: Mapping[str, Any], path: str) -> Any:
    """Render every string leaf and key of a nested dict/list structure."""
    if isinstance(value, str):
        return _render_leaf(value, context, path or "config")
    if isinstance(value, Mapping):
        rendered: dict[Any, Any] = {}
        for key, item in value.items():
            new_key = _render_text(key, context, _join(path, key)) if isinstance(key, str) else key
            if new_key in rendered:
                raise _fail(_join(path, str(key)), key, f"renders to the duplicate key {new_key!r}")
            rendered[new_key] = _render_value(item, context, _join(path, str(new_key)))
        return rendered
    if isinstance(value, list | tuple):
        return [_render_value(item, context, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


@functools.lru_cache(maxsize=1)
def _yaml_loader() -> type:
    """Return a ``yaml.SafeLoader`` that keeps dates as strings (``ds: 2025-01-01`` stays a string)."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return _Loader


def _parse_yaml(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass: no object construction


def _parse(text: str, kind: str, field: str, shown: str) -> Any:
    """Parse ``text`` as ``json``, ``yaml`` or ``any`` (JSON, then YAML); ``shown`` goes in errors."""
    import yaml

    try:
        if kind == "json":
            return json.loads(text)
        if kind == "any":
            try:
                return json.loads(text)
            except ValueError:
                pass
        return _parse_yaml(text)
    except (ValueError, yaml.YAMLError) as exc:
        label = "JSON" if kind == "json" else "YAML" if kind == "yaml" else "JSON or YAML"
        raise _fail(field, shown, f"is not valid {label}: {exc}") from exc


def _looks_like_path(text: str) -> bool:
    return (
        "\n" not in text
        and ": " not in text
        and not text.lstrip().startswith(("{", "["))
        and text.lower().endswith(_FILE_SUFFIXES)
    )


def _inside(path: str, directory: str) -> bool:
    """Return True when ``path`` (symlinks resolved) lies inside ``directory`` (symlinks resolved)."""
    real, root = os.path.realpath(path), os.path.realpath(directory)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _find_file(name: str, searchpath: Sequence[str]) -> str | None:
    """Absolute path of ``name``: itself when absolute, else the first match in ``searchpath``.

    Raises:
        ConfigValidationError: the file exists but lies outside every ``searchpath`` directory (``..``,
            an absolute path elsewhere, a symlink leading out).
    """
    candidates = [name] if os.path.isabs(name) else [os.path.join(directory, name) for directory in searchpath]
    for candidate in candidates:
        if not os.path.isfile(candidate):
            continue
        if not any(_inside(candidate, directory) for directory in searchpath):
            where = ", ".join(searchpath) or "(none: no DAG folder)"
            raise _fail(
                name,
                name,
                f"is outside the DAG folder and template_searchpath ({where}): config files are read only from there",
            )
        return os.path.abspath(candidate)
    return None


def _file_kind(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(_TEMPLATE_SUFFIX):
        lowered = lowered[: -len(_TEMPLATE_SUFFIX)]
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    return "any"


def _as_dict(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(field, value, f"must be a mapping at the top level, got {type(value).__name__}")
    return value


def render_config(
    config: Mapping[str, Any] | str, context: Mapping[str, Any], searchpath: Sequence[str] = ()
) -> dict[str, Any]:
    """Render a templated job configuration into a plain dict.

    ``config`` may be:

    * a mapping: every string key and leaf is rendered, recursively. A leaf that is exactly one
      ``{{ expression }}`` becomes the expression's value with its type (int, float, bool, list,
      dict, or a string exactly as given); any other templated text becomes a string.
    * the path of a ``.json``, ``.yaml``, ``.yml`` or ``.j2`` file (``x.yaml.j2``, ``x.json.j2``),
      absolute or relative to the first ``searchpath`` directory holding it, and inside one of them
      (symlinks resolved): the whole text is rendered, then parsed as JSON or YAML according to the
      extension before ``.j2`` (a bare ``.j2`` is tried as JSON, then YAML). Dates in YAML stay strings.
    * file content that was already rendered (a string that is not a file path): parsed as JSON,
      else YAML, and not rendered again.

    Templates see the keys of ``context`` as variables (``params``, ``ds``, ``ds_nodash``, ``run_id``,
    ``dag_run`` with ``dag_run.conf``, ``macros``, ``ti``, ``conf`` when present...). Rendering is
    sandboxed (see the module's docstring for what it refuses) and uses ``StrictUndefined``. Values from
    the context are inserted as data: a
    ``dag_run.conf`` value containing ``{{ 7*7 }}`` stays that literal text. In file templates, quote
    or ``| tojson`` user text that may contain YAML/JSON syntax.

    Args:
        config: The configuration (mapping, file path or content).
        context: Template variables, typically the Airflow task context.
        searchpath: Directories where relative file names are looked up, in order.

    Returns:
        The rendered configuration as a plain dict.

    Raises:
        ConfigValidationError: a template error (undefined variable, syntax, sandbox violation), a
            missing file or one outside ``searchpath``, unparsable content or a top level that is not a
            mapping; the field names the offending key path or file.
    """
    variables = dict(context)
    if isinstance(config, Mapping):
        from airflow_tf_sm.sagemaker.fields import nesting_errors

        too_deep = nesting_errors("config", config)
        if too_deep:
            raise ConfigValidationError(too_deep)
        return _as_dict(_render_value(config, variables, ""), "config")
    if not isinstance(config, str):
        raise _fail("config", config, "must be a mapping, a file path or JSON/YAML text")
    if _looks_like_path(config):
        path = _find_file(config, searchpath)
        if path is None:
            where = ", ".join(searchpath) or "(no searchpath)"
            raise _fail(config, config, f"file not found (searched: {where})")
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(config, path, f"cannot be read: {exc}") from exc
        rendered = _render_text(text, variables, config)
        return _checked(_parse(rendered, _file_kind(path), config, path), config)
    return _checked(_parse(config, "any", "config", config), "config")


def _checked(value: Any, field: str) -> dict[str, Any]:
    from airflow_tf_sm.sagemaker.fields import nesting_errors

    too_deep = nesting_errors(field, value)
    if too_deep:
        raise ConfigValidationError(too_deep)
    return _as_dict(value, field)
