"""airflow_tf_sm.compat: every moved Airflow name resolves on the installed version, without warnings."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_tf_sm import compat

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_tf_sm"
#: Airflow modules that moved between 3.1, 3.2 and 3.3 (FACTS.md section 9): only compat.py may import them.
VERSION_SPECIFIC = (
    "airflow.sdk.configuration",
    "airflow.configuration",
    "airflow.sdk.exceptions",
    "airflow.exceptions",
    "airflow.dag_processing.dagbag",
    "airflow.models.dagbag",
    "airflow.sdk.lineage",
    "airflow.lineage",
)


def test_importing_compat_imports_no_airflow() -> None:
    probe = "import json, sys; import airflow_tf_sm.compat; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert [m for m in loaded if m == "airflow" or m.startswith("airflow.")] == []


def test_no_module_but_compat_imports_a_version_specific_airflow_path() -> None:
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.startswith(VERSION_SPECIFIC)]
    assert found == []


@pytest.mark.parametrize(
    ("getter", "name"),
    [
        (compat.task_deferred, "TaskDeferred"),
        (compat.skip_exception, "AirflowSkipException"),
        (compat.task_deferral_timeout, "TaskDeferralTimeout"),
        (compat.dagbag_class, "DagBag"),
    ],
)
def test_each_name_resolves_to_its_home_on_this_version_without_a_warning(getter: object, name: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getter()  # type: ignore[operator]
    assert [str(w.message) for w in caught if name in str(w.message)] == []
    assert isinstance(value, type) and value.__name__ == name
    new_home = "airflow.dag_processing.dagbag" if name == "DagBag" else "airflow.sdk.exceptions"
    old_home = "airflow.models.dagbag" if name == "DagBag" else "airflow.exceptions"
    assert value.__module__ == (new_home if compat.airflow_version() >= (3, 2, 0) else old_home)


def test_the_deferral_exception_is_the_one_airflow_raises() -> None:
    from airflow.sdk import BaseOperator

    with pytest.raises(compat.task_deferred()):
        BaseOperator(task_id="t").defer(trigger=object(), method_name="m")  # type: ignore[arg-type]


def test_the_hook_lineage_collector_resolves() -> None:
    collector = compat.hook_lineage_collector()
    assert callable(collector.add_input_asset) and callable(collector.add_output_asset)


def test_conf_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert compat.conf().getboolean("operators", "default_deferrable", fallback=False) is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert compat.conf().getboolean("operators", "default_deferrable", fallback=True) is False


def test_the_kill_capability_follows_the_version() -> None:
    version = compat.airflow_version()
    assert version[0] == 3 and version >= (3, 1, 0)
    assert compat.trigger_kill_supported() is (version >= (3, 3, 0))


def test_deferring_warns_only_where_a_kill_cannot_stop_the_job() -> None:
    from airflow_tf_sm.tasks import SageMakerTask

    logged: list[str] = []
    log = SimpleNamespace(warning=lambda msg, *args: logged.append(msg % args))
    for stop in (True, False):
        SageMakerTask.warn_if_kill_cannot_stop(SimpleNamespace(stop_job_on_kill=stop, log=log), f"job-{stop}")  # type: ignore[arg-type]
    expected = [] if compat.trigger_kill_supported() else [True]
    assert [("job-True" in line) for line in logged] == expected
