#!/usr/bin/env bash
# Create .venv with everything the demo and the tests need (uv + pinned constraints.txt).
# Needs only a Python >= 3.11 on PATH (constraints.txt is the 3.11 lock; override with PYTHON=...).
# Safe to run again: it only tops up.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -m uv --version >/dev/null 2>&1 && ! "$PY" -m pip --version >/dev/null 2>&1; then
  # a venv without pip (uv makes those, .venv itself when activated): use the interpreter it was made from
  PY=$("$PY" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
fi
if ! "$PY" -m uv --version >/dev/null 2>&1; then
  "$PY" -m pip install --quiet --disable-pip-version-check uv 2>/dev/null \
    || "$PY" -m pip install --quiet --disable-pip-version-check --user uv
fi
UV=("$PY" -m uv)
if [ ! -x .venv/bin/python ]; then
  "${UV[@]}" venv --quiet --python "$PY" .venv
fi
"${UV[@]}" pip install --quiet --python .venv/bin/python -c constraints.txt -e ".[dev,tensorflow,tuning,openlineage]"
