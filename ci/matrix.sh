#!/usr/bin/env bash
# Run the test tiers of ci/matrix.tsv, one venv per (Airflow, Python) cell, and print what ran where.
#
#   bash ci/matrix.sh                 # every row of ci/matrix.tsv, in order
#   bash ci/matrix.sh 3.2:3.11:unit   # given cells only (airflow:python:tier)
#   bash ci/matrix.sh --readme        # print the README's "Tested versions" table (made from ci/matrix.tsv)
#
# Tiers: full = every test (with e2e, which needs tests/e2e/setup.sh); unit = -m "not e2e and not tensorflow".
# Venvs: Airflow 3.3 on Python 3.11 is .venv (scripts/bootstrap.sh, constraints.txt); another cell is
# .venv-afXY[-pyA.B] from ci/constraints-airflow-X.Y[-pyA.B].txt (made by ci/compile-constraints.sh; the
# 3.3 lock for another Python is compiled here when missing and left in ci/ to commit). A cell whose
# Python is not on this machine is reported as skipped. Exit status 1 when any cell failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY0=${PYTHON:-python3}
OUT=${MATRIX_OUT:-$ROOT/.matrix}

cells=()
if [ "${1:-}" = "--readme" ]; then
  echo "| Airflow | Python | tests |"
  echo "|---|---|---|"
  grep -v '^#' ci/matrix.tsv | while IFS=$'\t' read -r af py tier; do
    case $tier in
      full) what="all: unit, moto, local backend with real TensorFlow, \`dag.test()\`, e2e in a real Airflow" ;;
      unit) what="all but e2e and real-TensorFlow training (unit, moto, local backend, \`dag.test()\`, triggers)" ;;
    esac
    cons=ci/constraints-airflow-$af$([ "$py" = 3.11 ] || echo "-py$py").txt
    [ "$af" = 3.3 ] && [ "$py" = 3.11 ] && cons=constraints.txt
    full=$(grep -m1 '^apache-airflow==' "$cons" 2>/dev/null | cut -d= -f3)
    echo "| ${full:-$af} | $py | $what |"
  done
  exit 0
elif [ $# -gt 0 ]; then
  for c in "$@"; do cells+=("${c//:/ }"); done
else
  while IFS=$'\t' read -r af py tier; do cells+=("$af $py $tier"); done < <(grep -v '^#' ci/matrix.tsv)
fi

"$PY0" -m uv --version >/dev/null 2>&1 || "$PY0" -m pip install --quiet --disable-pip-version-check uv
UV=("$PY0" -m uv)
mkdir -p "$OUT"

find_python() {  # $1 = 3.13 ...: a working interpreter of that minor version, or nothing
  local v=$1 c
  for c in "$(command -v "python$v" 2>/dev/null)" "$HOME"/.pyenv/versions/"$v".*/bin/"python$v" \
    /usr/bin/"python$v" /usr/local/bin/"python$v"; do
    [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import sys' >/dev/null 2>&1 && { echo "$c"; return; }
  done
  "${UV[@]}" python find --no-python-downloads "$v" 2>/dev/null | tail -1
}

cell_setup() {  # $1 airflow X.Y, $2 python A.B -> prints the venv's python; exit 3: no such Python here
  local af=$1 py=$2 suffix venv cons interp
  suffix=$([ "$py" = 3.11 ] || echo "-py$py")
  if [ "$af" = 3.3 ] && [ "$py" = 3.11 ]; then
    bash scripts/bootstrap.sh >&2 || return 1
    echo "$ROOT/.venv/bin/python"
    return
  fi
  venv=.venv-af${af/./}$suffix
  cons=ci/constraints-airflow-$af$suffix.txt
  interp=$(find_python "$py")
  [ -n "$interp" ] || { echo "no Python $py on this machine" >&2; return 3; }
  if [ ! -f "$cons" ]; then
    local base=ci/constraints-airflow-$af.txt pins=()
    [ "$af" = 3.3 ] && base=constraints.txt
    [ -f "ci/pins-airflow-$af.txt" ] && pins=(-c "ci/pins-airflow-$af.txt")
    cp "$base" "$cons"
    "${UV[@]}" pip compile --quiet setup.cfg --extra dev --extra tensorflow --extra tuning --extra openlineage -p "$py" "${pins[@]}" -o "$cons" >&2 \
      || { rm -f "$cons"; return 1; }
    echo "compiled $cons (a new file: commit it)" >&2
  fi
  [ -x "$venv/bin/python" ] || "${UV[@]}" venv --quiet --python "$interp" "$venv" >&2 || return 1
  "${UV[@]}" pip install --quiet --python "$venv/bin/python" -c "$cons" -e ".[dev,tensorflow,tuning,openlineage]" >&2 || return 1
  echo "$ROOT/$venv/bin/python"
}

run_part() {  # $1 cell, $2 part number, $3 python, then pytest's arguments; appends to the cell's log
  local cell=$1 part=$2 vpy=$3 rc
  shift 3
  rm -f "$OUT/$cell.$part.xml"
  AIRFLOW__CORE__LOAD_EXAMPLES=False "$vpy" -m pytest -q -p no:cacheprovider "$@" \
    --junitxml="$OUT/$cell.$part.xml" 2>&1 | tee -a "$OUT/$cell.log" | tail -n 3
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 5 ] && rc=0  # no test selected
  return "$rc"
}

run_cell() {  # $1 airflow, $2 python, $3 tier; writes $OUT/<cell>.{log,row} and $OUT/<cell>.<part>.xml
  local af=$1 py=$2 tier=$3 cell="af$1-py$2-$3" t0 t1 t2 vpy rc part_rc
  # the non-e2e tests in PYTEST_WORKERS processes (pytest-xdist, a test file per process at a time);
  # e2e (one real Airflow deployment) in one
  local parallel=(-n "${PYTEST_WORKERS:-2}" --dist loadfile)
  case $tier in full | unit) ;; *) echo "unknown tier $tier (full|unit)" >&2; return 2 ;; esac
  t0=$(date +%s)
  vpy=$(cell_setup "$af" "$py" 2>"$OUT/$cell.setup.log")
  rc=$?
  if [ $rc -ne 0 ]; then
    local what="setup failed (see .matrix/$cell.setup.log)" code=1
    [ $rc -eq 3 ] && { what="skipped: no Python $py on this machine"; code=0; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$af" "$py" "$tier" "$what" "$code" "$(($(date +%s) - t0))" "-" >"$OUT/$cell.row"
    return
  fi
  t1=$(date +%s)
  echo "== Airflow $af, Python $py, tier $tier ($vpy)"
  : >"$OUT/$cell.log"
  if [ "$tier" = full ]; then
    run_part "$cell" 0 "$vpy" -m "not e2e" "${parallel[@]}"
    rc=$?
    # e2e waits on a real Airflow deployment (about 0.9 of a core busy): by default it runs while the
    # next cells run (E2E_ALONGSIDE=0: in turn, for a run that tells a load problem from a real one)
    (
      run_part "$cell" 1 "$vpy" -m e2e >"$OUT/$cell.e2e.out"
      part_rc=$?
      [ "$part_rc" -eq 0 ] || rc=$part_rc
      write_row "$OUT/$cell" "$vpy" "$OUT/$cell.0.xml,$OUT/$cell.1.xml" "$tier" "$rc" "$((t1 - t0))" "$(($(date +%s) - t1))"
    ) &
    BACKGROUND+=($!)
    [ "${E2E_ALONGSIDE:-1}" = 1 ] || wait "$!"
    return
  fi
  run_part "$cell" 0 "$vpy" -m "not e2e and not tensorflow" "${parallel[@]}"
  rc=$?
  t2=$(date +%s)
  write_row "$OUT/$cell" "$vpy" "$OUT/$cell.0.xml" "$tier" "$rc" "$((t1 - t0))" "$((t2 - t1))"
}

write_row() {  # $1 cell path, $2 python, $3 junit files (comma-separated), $4 tier, $5 exit, $6 setup s, $7 test s
  "$2" - "$3" "$4" "$5" "$6" "$7" >"$1.row" <<'EOF'
import importlib.metadata as md
import sys
import xml.etree.ElementTree as ET

xmls, tier, rc, setup_s, test_s = sys.argv[1:]
try:
    suites = [s for xml in xmls.split(",") for s in ET.parse(xml).getroot().iter("testsuite")]
    count = lambda key: sum(int(s.get(key, 0)) for s in suites)  # noqa: E731
    failed, skipped = count("failures") + count("errors"), count("skipped")
    result = f"{count('tests') - failed - skipped} passed, {failed} failed, {skipped} skipped"
except Exception:  # no report: pytest did not get as far as collecting
    result = f"pytest exit {rc}"
print("\t".join([md.version("apache-airflow-core"), sys.version.split()[0], tier, result, rc, setup_s, test_s]))
EOF
}

BACKGROUND=()
for c in "${cells[@]}"; do
  # shellcheck disable=SC2086
  run_cell $c
done
for pid in ${BACKGROUND[@]+"${BACKGROUND[@]}"}; do
  wait "$pid"
done
for out in "$OUT"/*.e2e.out; do
  [ -f "$out" ] && { echo "== e2e of $(basename "$out" .e2e.out)"; cat "$out"; }
done

status=0
echo
echo "== What ran where"
printf '%-8s %-8s %-5s %-44s %4s %7s %7s\n' airflow python tier result exit setup_s test_s
for c in "${cells[@]}"; do
  set -- $c
  row=$(cat "$OUT/af$1-py$2-$3.row" 2>/dev/null || printf '%s\t%s\t%s\tno result\t1\t-\t-' "$1" "$2" "$3")
  IFS=$'\t' read -r v p t r e s w <<<"$row"
  printf '%-8s %-8s %-5s %-44s %4s %7s %7s\n' "$v" "$p" "$t" "$r" "$e" "$s" "$w"
  [ "$e" = 0 ] || status=1
done
exit $status
