"""Parse cost: what a DAG file pays to import airflow_tf_sm's public classes, vs the Amazon provider's operators.

Each sample is a fresh interpreter that imports ``airflow.sdk`` first (every DAG file does), then times
only the import under test. Ours and the provider's alternate, so machine noise hits both alike.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from bench.common import Figure, child_env, median, new_home, run_child

REPO = Path(__file__).resolve().parent.parent

OURS = """
import json, time
import airflow.sdk
start = time.perf_counter()
import airflow_tf_sm
# the four public classes a DAG file uses (the hook and the spec are imported by tasks at run time)
names = ["TFTrainingOperator", "TrainingJobSensor", "TFDeployOperator", "EndpointSensor"]
for name in names:
    getattr(airflow_tf_sm, name)
print(json.dumps({"seconds": time.perf_counter() - start, "names": names}))
"""

PROVIDER = """
import json, time
import airflow.sdk
start = time.perf_counter()
import airflow.providers.amazon.aws.operators.sagemaker
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

GOAL_SECONDS = 0.030
GOAL_RATIO = 20.0


def byte_compile() -> None:
    """Byte-compile both sides first, as an installed deployment has them (pip compiles on install).

    Without it (uv installs without compiling, and PYTHONDONTWRITEBYTECODE may be set) every fresh
    process would pay the compiler for whatever lacks a ``.pyc``, which measures the install, not the import.
    """
    site = sysconfig.get_paths()["purelib"]
    skip = r"/(tensorflow|keras|tensorboard|moto|mypy|ruff|sphinx)/"
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "2", "-x", skip, site, str(REPO / "airflow_tf_sm")],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def measure(samples: int = 11) -> list[Figure]:
    """Time ``samples`` fresh processes of each import; return the two parse-cost rows."""
    byte_compile()
    env = child_env(new_home())
    ours: list[float] = []
    provider: list[float] = []
    names: list[str] = []
    for _ in range(samples):
        result = run_child(["-c", OURS], env, timeout=120)
        ours.append(result["seconds"])
        names = result["names"]
        provider.append(run_child(["-c", PROVIDER], env, timeout=120)["seconds"])
    ours_ms, provider_ms = median(ours) * 1000, median(provider) * 1000
    ratio = provider_ms / ours_ms if ours_ms else float("inf")
    spread = f"min-max {min(ours) * 1000:.1f}-{max(ours) * 1000:.1f} ms"
    return [
        Figure(
            "1a. Parse cost: import airflow_tf_sm + public classes",
            f"{ours_ms:.1f} ms",
            f"<= {GOAL_SECONDS * 1000:.0f} ms",
            ours_ms <= GOAL_SECONDS * 1000,
            f"median of {samples} fresh processes after airflow.sdk ({spread}); classes: {', '.join(names)}",
        ),
        Figure(
            "1b. Parse cost vs amazon provider's sagemaker operators",
            f"1/{ratio:.1f} ({provider_ms:.0f} ms)",
            f"<= 1/{GOAL_RATIO:.0f}",
            ratio >= GOAL_RATIO,
            f"provider: median of {samples} fresh processes after airflow.sdk, "
            f"min-max {min(provider) * 1000:.0f}-{max(provider) * 1000:.0f} ms",
        ),
    ]
