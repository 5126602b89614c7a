#!/usr/bin/env bash
# The demo: install (scripts/bootstrap.sh), then run the example DAG end to end with `airflow dags test`
# on the local backend: data generation -> real TensorFlow training under the SageMaker container
# contract -> quality gate -> deploy to a local TF-Serving-style endpoint -> smoke-test predictions ->
# endpoint teardown. Shows each task as it starts with the package's own log lines (the training log,
# statuses, the endpoint), then a short summary: what ran, metrics, model, predictions, where the full
# log is. Exits non-zero if anything failed. Optional argument: a logical date (default: now, so every
# run trains anew).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
DEMO=${DEMO_DIR:-$PWD/.demo}
export AIRFLOW_HOME=$DEMO/airflow_home
export AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags_examples
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__AIRFLOW_TF_SM__BACKEND=local
export AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT=$DEMO/local_root
mkdir -p "$AIRFLOW_HOME"
if ! .venv/bin/airflow db migrate >"$DEMO/db-migrate.log" 2>&1; then
  cat "$DEMO/db-migrate.log"
  exit 1
fi
LOG=$DEMO/last-run.log
echo "Running tf_sm_example with airflow dags test (full log: $LOG)"
status=0
.venv/bin/airflow dags test tf_sm_example ${1:+"$1"} 2>&1 | tee "$LOG" | .venv/bin/python scripts/demo_report.py view \
  || status=$?
echo
.venv/bin/python scripts/demo_report.py summary tf_sm_example "$LOG" || status=1
exit $status
