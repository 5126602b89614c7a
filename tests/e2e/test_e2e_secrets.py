"""Secrets under the real triggerer: no secret value in any log file, event payload or metadata row.

The ``tf_sm_e2e_secrets`` DAG trains deferrably with a hyperparameter and an environment value taken from
Variables whose names Airflow does not find sensitive; its script prints both values itself. While the run
goes, the test keeps every ``trigger`` and ``task_instance`` row it sees (the trigger's kwargs, the event
payload in ``next_kwargs``); at the end it reads the ``xcom`` and ``rendered_task_instance_fields`` rows, the
task log through the REST API, and every log file of the deployment, and finds neither value anywhere.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from tests.e2e.harness import AirflowCluster

pytestmark = pytest.mark.e2e

DAG_ID = "tf_sm_e2e_secrets"
TABLES_AT_END = ("trigger", "xcom", "rendered_task_instance_fields", "task_instance", "task_instance_history")


def rows(cluster: AirflowCluster, table: str) -> list[str]:
    """Return every row of a metadata table as JSON text."""
    import psycopg
    from psycopg import sql

    assert cluster.postgres is not None
    query = sql.SQL("SELECT row_to_json(t)::text FROM {} AS t").format(sql.Identifier(table))
    with psycopg.connect(host="127.0.0.1", port=cluster.postgres.port, user="airflow", dbname="airflow") as conn:
        return [str(row[0]) for row in conn.execute(query).fetchall()]


def log_files(cluster: AirflowCluster) -> list[Path]:
    """Every log file of the deployment: the components', Airflow's task and trigger logs, the local job logs."""
    found = [p for p in cluster.log_dir.rglob("*") if p.is_file()]
    found += [p for p in (cluster.home / "logs").rglob("*") if p.is_file()]
    found += [p for p in (cluster.local_root / "logs").rglob("*") if p.is_file()]
    return sorted(found)


def test_a_deferred_run_leaves_no_secret_in_logs_events_or_the_database(cluster: AirflowCluster) -> None:
    db_pass = f"e2e-pass-{secrets.token_hex(6)}"
    credential = f"e2e-cred-{secrets.token_hex(6)}"
    values = (db_pass, credential)
    for key, value in (("tf_sm_e2e_db_pass", db_pass), ("tf_sm_e2e_api_credential", credential)):
        cluster.api.request("POST", "/api/v2/variables", {"key": key, "value": value}, expect=(200, 201))
    cluster.wait_dags([DAG_ID])
    cluster.set_paused(DAG_ID, False)

    run_id = cluster.trigger(DAG_ID)
    seen: dict[str, set[str]] = {"trigger": set(), "task_instance": set(), "rest trigger kwargs": set()}
    deadline = time.monotonic() + 240
    while cluster.run(DAG_ID, run_id)["state"] not in ("success", "failed"):
        assert time.monotonic() < deadline, cluster.log_tails()
        seen["trigger"].update(rows(cluster, "trigger"))
        seen["task_instance"].update(r for r in rows(cluster, "task_instance") if DAG_ID in r)
        trigger = cluster.task_instance(DAG_ID, run_id).get("trigger")
        if trigger:
            seen["rest trigger kwargs"].add(json.dumps(trigger))
        time.sleep(0.2)
    assert cluster.run(DAG_ID, run_id)["state"] == "success"

    # the drill happened: the task deferred to the triggerer, the trigger yielded an event, fields were rendered
    assert any("TrainingJobTrigger" in r for r in seen["trigger"] | seen["rest trigger kwargs"])
    assert any('"event"' in r for r in seen["task_instance"]), "no event payload was ever seen in next_kwargs"
    places: dict[str, list[str]] = {
        "trigger rows": sorted(seen["trigger"]),
        "trigger kwargs (REST)": sorted(seen["rest trigger kwargs"]),
        "task_instance rows while running (next_kwargs: the event)": sorted(seen["task_instance"]),
    }
    for table in TABLES_AT_END:
        places[f"{table} rows"] = [r for r in rows(cluster, table) if DAG_ID in r]
    assert places["xcom rows"] and places["rendered_task_instance_fields rows"]
    tries = int(cluster.task_instance(DAG_ID, run_id)["try_number"])
    task_log = "\n".join(cluster.task_log(DAG_ID, run_id, number) for number in range(1, tries + 1))
    places["task log (REST)"] = [task_log]
    job_lines: list[str] = []
    for path in log_files(cluster):
        text = path.read_text(errors="replace")
        if path.is_relative_to(cluster.local_root):
            # the job's own log (CloudWatch's stand-in) holds what the script printed itself, and nothing else
            job_lines += [line for line in text.splitlines() if "script says" in line]
            text = "\n".join(line for line in text.splitlines() if "script says" not in line)
        places[f"log file {path.relative_to(cluster.base)}"] = [text]
    assert any(db_pass in line for line in job_lines)  # the script did print its secret

    leaks = {where: [v for v in values if any(v in item for item in items)] for where, items in places.items()}
    assert {where: found for where, found in leaks.items() if found} == {}
    # ... and what stands in their place
    assert any("***" in r for r in places["rendered_task_instance_fields rows"])
    assert "script says db_pass=*** credential=***" in task_log  # the trigger streamed the script's line, masked
