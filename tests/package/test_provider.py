"""Provider discovery and the local backend CLI."""

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


def test_local_cli_lists_and_describes(local_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_tf_sm.backends.local.cli import main
    from airflow_tf_sm.hook import TFSageMakerHook
    from airflow_tf_sm.training.spec import TrainingJobSpec

    hook = TFSageMakerHook(backend="local", local_root=str(local_root))
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(
        "import os, pathlib\n"
        "pathlib.Path(os.environ['SM_MODEL_DIR'], 'weights.txt').write_text('1')\n"
        "print('acc=0.5')\n"
    )
    spec = TrainingJobSpec.from_mapping(
        {
            "entry_point": "train.py",
            "source_dir": str(code),
            "output_path": "s3://cli-bucket/out",
            "metric_definitions": [{"Name": "acc", "Regex": "acc=([0-9.]+)"}],
        }
    )
    hook.training.create(hook.training.request(spec, "cli-job-1", hook.training.stage_code(spec)))
    hook.training.wait("cli-job-1", poll_interval=0.2)
    capsys.readouterr()
    assert main(["--root", str(local_root), "list"]) == 0
    assert "cli-job-1" in capsys.readouterr().out
    assert main(["--root", str(local_root), "describe", "--last"]) == 0
    out = capsys.readouterr().out
    assert "Completed" in out and "acc = 0.5000" in out and "weights.txt" in out
    assert main(["--root", str(local_root), "logs", "cli-job-1"]) == 0
    assert "acc=0.5" in capsys.readouterr().out
