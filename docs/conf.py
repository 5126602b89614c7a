"""Sphinx configuration of the airflow_tf_sm documentation.

Build: ``python -m sphinx -W --keep-going -b html -q docs docs/_build/html``.
Pages are reStructuredText; ``internals.md`` is shown as a literal include (no Markdown parser needed).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# autodoc imports modules that import Airflow: give it a throwaway home unless one is set.
if not os.environ.get("AIRFLOW_HOME"):
    _airflow_home = tempfile.mkdtemp(prefix="airflow_tf_sm_docs_")
    os.environ["AIRFLOW_HOME"] = _airflow_home
    atexit.register(shutil.rmtree, _airflow_home, True)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_tf_sm import __version__  # noqa: E402

project = "airflow_tf_sm"
author = "airflow_tf_sm contributors"
copyright = "airflow_tf_sm contributors"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "*.md"]

# Google-style docstrings only; "Attributes:" become field lists, not separate (duplicate) objects.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True

html_theme = "alabaster"
html_title = f"airflow_tf_sm {release}"
