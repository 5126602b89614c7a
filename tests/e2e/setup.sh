#!/usr/bin/env bash
# What the end-to-end tests need beyond .venv: PostgreSQL (Airflow's metadata database), Chromium and
# ChromeDriver (the UI check) from Debian's packages, and selenium + psycopg (tests/e2e/requirements.txt).
# Installs only what is missing; Debian packages need root (as in CI). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "tests/e2e/setup.sh: the e2e tests need the Debian packages: ${need[*]}" >&2
  fi
fi
PY=${PYTHON:-python3}
"$PY" -m uv pip install --quiet --python .venv/bin/python -c constraints.txt -r tests/e2e/requirements.txt
