"""Operators whose arguments are a spec's settings: explicit keywords, an optional ``config``, rendered once.

:class:`SpecArguments` is mixed into an operator whose every spec setting is an explicit keyword of its
``__init__`` (listed in ``SPEC_FIELDS``, read from the signature by ``tasks.keyword_arguments``) and which
also takes a ``config`` (dict or template file). It renders the ``config`` once with the package's
sandboxed renderer and merges it with the explicit arguments (:meth:`SpecArguments.spec_mapping`). Used
by the training and the tuning operators. Light: DAG files import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Spec fields that name files on the machine that runs the task (relative paths: the DAG's folder; so are
#: the entries of ``dependencies``).
LOCAL_PATH_FIELDS = ("source_dir", "entry_point")


class SpecArguments:
    """Mixin of an operator (before its ``BaseOperator`` base) that takes a spec's settings as arguments.

    The operator sets ``config`` and one attribute per name of ``SPEC_FIELDS``.
    """

    SPEC_FIELDS: tuple[str, ...] = ()
    config: Mapping[str, Any] | str | None

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render templated arguments; the ``config`` is rendered once, by the package's sandboxed renderer.

        Airflow renders every other templated argument. ``config`` is held back from Airflow's pass so
        that it is rendered exactly once (values that come from ``params``/``conf`` are data, never
        templates), natively and with ``StrictUndefined``; the rendered dict is what the UI shows.
        """
        config = self.config
        self.config = None
        try:
            super().render_template_fields(context, jinja_env)  # type: ignore[misc]
        finally:
            self.config = config
        if config:
            from airflow_tf_sm.templating import render_config

            self.config = render_config(config, context, self._searchpath())
            self.mask_rendered_secrets()  # type: ignore[attr-defined]

    def _searchpath(self) -> list[str]:
        paths: list[str] = []
        dag = self.dag if self.has_dag() else None  # type: ignore[attr-defined]
        if dag is not None:
            fileloc = getattr(dag, "fileloc", None)
            if fileloc:
                paths.append(os.path.dirname(os.path.abspath(fileloc)))
            extra = getattr(dag, "template_searchpath", None) or []
            paths.extend([extra] if isinstance(extra, str) else list(extra))
        return paths

    # -------------------------------------------------------------- execution
    def spec_mapping(self) -> dict[str, Any]:
        """Return the rendered job settings: the config, overridden by explicit arguments."""
        mapping: dict[str, Any] = dict(self.config) if isinstance(self.config, Mapping) else {}
        for name in self.SPEC_FIELDS:
            value = getattr(self, name)
            if value is not None and value != "":  # an empty rendered template means "not set"
                mapping[name] = value
        base = self._searchpath()[:1]
        dependencies = mapping.get("dependencies")
        if base and isinstance(dependencies, (list, tuple)):
            mapping["dependencies"] = [
                os.path.join(base[0], d) if isinstance(d, str) and not os.path.isabs(d) else d for d in dependencies
            ]
        for name in LOCAL_PATH_FIELDS:
            value = mapping.get(name)
            if name == "entry_point" and mapping.get("source_dir"):
                continue  # relative to source_dir
            if isinstance(value, str) and base and not os.path.isabs(value) and "://" not in value:
                mapping[name] = os.path.join(base[0], value)
        return mapping
