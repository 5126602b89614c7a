#!/usr/bin/env bash
# The test command: install (scripts/bootstrap.sh, tests/e2e/setup.sh), lint, type-check, then every cell
# of the CI matrix (ci/matrix.tsv): the whole suite on the newest Airflow (unit, moto, local backend with
# real TensorFlow, dag.test(), docs build, e2e in a real Airflow: tests/e2e) and the unit tier on the
# older Airflows and another Python; ends with a table of what ran where.
# With arguments: only pytest in .venv, with those arguments (e.g. bash scripts/test.sh tests/training -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash tests/e2e/setup.sh
export AIRFLOW__CORE__LOAD_EXAMPLES=False
.venv/bin/ruff check .
.venv/bin/mypy
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
bash ci/matrix.sh
