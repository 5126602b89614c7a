"""Provider discovery and the settings."""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path

import pytest

from airflow_tf_sm.provider import get_provider_info


def test_entry_point_points_at_get_provider_info() -> None:
    eps = importlib.metadata.entry_points(group="apache_airflow_provider")
    ours = [ep for ep in eps if ep.value.startswith("airflow_tf_sm.")]
    assert len(ours) == 1
    assert ours[0].load() is get_provider_info


def test_provider_info_modules_import_and_config_section() -> None:
    info = get_provider_info()
    assert info["package-name"] == "airflow-tf-sm"
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(kind, []):
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for link in info.get("extra-links", []):
        module, _, name = link.rpartition(".")
        assert hasattr(importlib.import_module(module), name)
    options = info["config"]["airflow_tf_sm"]["options"]
    assert {"backend", "local_root"} <= set(options)


def test_backend_setting_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from airflow_tf_sm.settings import resolve_backend, resolve_local_root

    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__BACKEND", "local")
    monkeypatch.setenv("AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT", str(tmp_path / "root"))
    assert resolve_backend() == "local"
    assert resolve_backend("sagemaker") == "sagemaker"  # the per-operator override wins
    assert resolve_local_root() == (tmp_path / "root").resolve()
    monkeypatch.delenv("AIRFLOW__AIRFLOW_TF_SM__BACKEND")
    assert resolve_backend() == "sagemaker"
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("gcp")
