"""Example (story 10): the nightly model as an asset; a person approves it before the endpoint changes.

``tf_sm_nightly``'s training task has the asset ``tf_sm_nightly_model`` as its outlet: every Completed
training emits an asset event whose ``extra`` is the task's result (``job_name``, ``model_data``,
``metrics``, ...). This DAG is scheduled on that asset. Each event starts a run that

1. asks a person (Airflow's Required Actions page, or the HITL REST API) whether to deploy the candidate,
   showing its metrics and model URI (``ApprovalOperator``, standard provider, Airflow 3.1+); no answer
   within a day counts as a rejection;
2. on Approve deploys that training job's model to the endpoint ``tf-sm-approved`` (created, or updated in
   place); on Reject the deploy task is skipped and the endpoint keeps serving the model it had.

The training job comes from the triggering event (``airflow_tf_sm.lineage.training_job_from_events``), or
from the ``training_job_name`` Param of a run triggered by hand.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, Param
from tf_sm_example.assets import NIGHTLY_MODEL

from airflow_tf_sm import TFDeployOperator
from airflow_tf_sm.lineage import latest_extra, training_job_from_events
from airflow_tf_sm.sagemaker.names import NAME_PATTERN

ENDPOINT = "tf-sm-approved"
#: The candidate's training job: the Param of a manual run, else the newest triggering event's.
TRAINING_JOB = "{{ params.training_job_name or training_job_from_events(triggering_asset_events) }}"
BODY = (
    """
{%- if params.training_job_name -%}
Training job **{{ params.training_job_name }}** (named when the run was triggered).
{%- else -%}
{%- set candidate = latest_extra(triggering_asset_events) -%}
Training job **{{ candidate.job_name }}** ({{ candidate.backend }}) finished with:

| metric | value |
|---|---|
{% for name, value in candidate.metrics | dictsort %}| {{ name }} | {{ "%.4f" | format(value) }} |
{% endfor %}
Model: `{{ candidate.model_data }}`
{%- endif %}

**Approve** deploys it to the endpoint `"""
    + ENDPOINT
    + """`; **Reject** leaves the endpoint as it is.
"""
)

with DAG(
    dag_id="tf_sm_approved_deploy",
    description="Deploy a nightly model after a person approved its metrics",
    schedule=[NIGHTLY_MODEL],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    user_defined_macros={"training_job_from_events": training_job_from_events, "latest_extra": latest_extra},
    tags=["airflow_tf_sm", "example"],
    params={
        "training_job_name": Param(
            None,
            type=["null", "string"],
            pattern=NAME_PATTERN.pattern,  # the SageMaker name rule
            title="Training job",
            description="For a run triggered by hand: the Completed training job to offer (default: the asset event's)",
        ),
    },
) as dag:
    approve = ApprovalOperator(
        task_id="approve",
        subject="Deploy the nightly model to " + ENDPOINT + "?",
        body=BODY,
        defaults="Reject",
        response_timeout=dt.timedelta(days=1),
    )
    deploy = TFDeployOperator(
        task_id="deploy",
        training_job_name=TRAINING_JOB,
        endpoint_name=ENDPOINT,
        deferrable=True,
        poll_interval=2,
    )
    approve >> deploy
