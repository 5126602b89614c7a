"""The README: its two commands first, and the tested versions made from the CI matrix (never typed twice)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_the_readme_starts_with_the_demo_and_the_test_command() -> None:
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert commands[:2] == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert (REPO / ".ci" / "run").read_text().count("bash scripts/test.sh") == 1


def test_the_tested_versions_table_is_the_ci_matrix() -> None:
    block = re.search(r"<!-- tested-versions:start -->\n(.*?)<!-- tested-versions:end -->", README, re.S)
    assert block is not None
    made = subprocess.run(["bash", "ci/matrix.sh", "--readme"], cwd=REPO, capture_output=True, text=True, check=True)
    assert block.group(1) == made.stdout
    rows = [line for line in made.stdout.splitlines()[2:] if line.startswith("|")]
    matrix = [line for line in (REPO / "ci" / "matrix.tsv").read_text().splitlines() if line and line[0] != "#"]
    assert len(rows) == len(matrix) >= 3
