#!/usr/bin/env bash
# The test command: install (scripts/bootstrap.sh), then lint, type-check and run the whole test suite
# (unit, moto, local backend with real TensorFlow, docs build, end-to-end in a real Airflow: tests/e2e).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash tests/e2e/setup.sh
export AIRFLOW__CORE__LOAD_EXAMPLES=False
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
