"""The quickstart page, followed as written: its environment block and its DAG, run with ``dag.test()``."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.training.test_operator import EXAMPLES, xcom_of

QUICKSTART = Path(__file__).resolve().parent.parent / "docs" / "quickstart.rst"


def code_blocks(language: str) -> list[str]:
    """Return the page's ``.. code-block:: <language>`` bodies, dedented."""
    blocks, lines = [], QUICKSTART.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip() == f".. code-block:: {language}":
            body = []
            for following in lines[index + 2 :]:
                if following and not following.startswith("   "):
                    break
                body.append(following[3:])
            blocks.append("\n".join(body).strip() + "\n")
    return blocks


def quickstart_dag() -> str:
    [dag] = [block for block in code_blocks("python") if "def tf_quickstart" in block]
    return dag


def quickstart_settings() -> dict[str, str]:
    """The package's settings the page's environment block exports (``$AIRFLOW_HOME`` left for the test)."""
    [block] = [b for b in code_blocks("bash") if "airflow db migrate" in b]
    found = re.findall(r"^export (AIRFLOW__AIRFLOW_TF_SM__\w+)=(\S+)$", block, re.M)
    return dict(found)


def test_the_environment_block_sets_the_backend_and_the_local_root() -> None:
    settings = quickstart_settings()
    assert settings["AIRFLOW__AIRFLOW_TF_SM__BACKEND"] == "local"
    assert settings["AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT"] == "$AIRFLOW_HOME/airflow_tf_sm"
    assert "backend=" not in quickstart_dag()  # the DAG itself follows the setting


@pytest.mark.tensorflow
def test_the_quickstart_dag_copied_verbatim_trains_with_and_without_a_logical_date(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pendulum

    from airflow_tf_sm.compat import dagbag_class
    from airflow_tf_sm.hook import TFSageMakerHook

    for name, value in quickstart_settings().items():
        monkeypatch.setenv(name, value.replace("$AIRFLOW_HOME", str(tmp_path / "home")))
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "tf_quickstart.py").write_text(quickstart_dag())
    shutil.copytree(EXAMPLES / "tf_sm_example", dags / "tf_sm_example")  # "next to the tf_sm_example directory"
    # dag.test() serializes the DAGs of the configured bundles: add the quickstart's folder to them
    bundles = json.loads(os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"])
    bundles.append(
        {
            "name": "quickstart",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(dags)},
        }
    )
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    bag = dagbag_class()(dag_folder=str(dags / "tf_quickstart.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag("tf_quickstart")

    dated = dag.test(logical_date=pendulum.datetime(2024, 1, 2, tz="UTC"))
    assert dated.state == "success"
    result = xcom_of(dated, "train")
    assert result["backend"] == "local" and result["status"] == "Completed"
    assert result["metrics"]["validation:accuracy"] >= 0.8
    hook = TFSageMakerHook(local_root=str(tmp_path / "home" / "airflow_tf_sm"))
    channels = hook.describe_training_job(result["job_name"])["InputDataConfig"]
    assert channels[0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://my-bucket/data/2024-01-02/train"

    undated = dag.test(logical_date=None)  # as a REST trigger with logical_date: null
    assert undated.state == "success" and undated.logical_date is None
    day = undated.run_after.strftime("%Y-%m-%d")
    channels = hook.describe_training_job(xcom_of(undated, "train")["job_name"])["InputDataConfig"]
    assert channels[0]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://my-bucket/data/{day}/train"
