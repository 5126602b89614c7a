#!/usr/bin/env bash
# Regenerate ci/constraints-airflow-X.Y.txt from setup.cfg + ci/pins-airflow-X.Y.txt.
# Each output is seeded with ../constraints.txt (the 3.3.2 lock), which uv keeps as its
# preferences: only what the pins force moves. Run after constraints.txt changes.
# Usage: bash ci/compile-constraints.sh [3.1 3.2 ...]   (default: every ci/pins-airflow-*.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
  for f in ci/pins-airflow-*.txt; do v=${f#ci/pins-airflow-}; versions+=("${v%.txt}"); done
fi
for v in "${versions[@]}"; do
  out=ci/constraints-airflow-$v.txt
  cp constraints.txt "$out"
  "$PY" -m uv pip compile --quiet setup.cfg --extra dev --extra tensorflow --extra tuning --extra openlineage -p 3.11 \
    -c "ci/pins-airflow-$v.txt" -o "$out"
  echo "$out: $(grep -c '==' "$out") pins; $(grep -E '^apache-airflow(-core|-task-sdk)?==' "$out" | tr '\n' ' ')"
done
