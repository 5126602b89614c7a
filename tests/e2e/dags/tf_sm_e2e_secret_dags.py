"""The secrets drill: deferrable training whose hyperparameter and environment value come from Variables.

The Variables' names (``tf_sm_e2e_db_pass``, ``tf_sm_e2e_api_credential``) are not on Airflow's list of
sensitive names, so Airflow itself masks neither value: the package's redaction must.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_tf_sm import TFTrainingOperator

with DAG(
    dag_id="tf_sm_e2e_secrets",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    render_template_as_native_obj=True,
):
    TFTrainingOperator(
        task_id="train",
        entry_point="secret_train.py",
        source_dir="e2e_code",
        output_path="s3://tf-sm-e2e/secrets",
        hyperparameters={"db_pass": "{{ var.value.tf_sm_e2e_db_pass }}", "seconds": 6},
        environment={"API_CREDENTIAL": "{{ var.value.tf_sm_e2e_api_credential }}"},
        deferrable=True,
        poll_interval=1,
    )
