"""The README's first command: the demo runs the example end to end and ends with a short summary."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.tensorflow
def test_the_demo_shows_the_run_and_ends_with_a_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
    env["DEMO_DIR"] = str(tmp_path / "demo")
    done = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1200, check=False
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    lines = out.splitlines()
    assert len(lines) < 100, f"{len(lines)} lines"
    assert "Filling up the DagBag" not in out and "Task instance state updated" not in out  # no Airflow internals
    for task in ("generate_data", "train", "deploy", "smoke_test", "delete_endpoint"):
        assert f"--- task {task}" in out
    assert re.search(r"^\d\d:\d\d:\d\d  epoch=10 loss=", out, re.M)  # the training log, as it comes

    summary = out[out.index("== Summary: tf_sm_example, run manual__") :].splitlines()
    assert summary[0].endswith(" s ==") and ": success in " in summary[0]
    tasks = dict(line.split()[:2] for line in summary[1:7])  # in the order they started
    assert tasks == {
        t: "success" for t in ("generate_data", "train", "report", "deploy", "smoke_test", "delete_endpoint")
    }
    fields = dict(line.split(":", 1) for line in summary[7:])
    assert fields["Training job"].strip().endswith("(local): Completed")
    assert re.fullmatch(r" +val_accuracy 0\.9\d{3}, val_loss 0\.\d{4}", fields["Metrics"])
    assert re.fullmatch(
        r" +s3://airflow-tf-sm-demo/models/tf-sm-example-train-\w+/output/model\.tar\.gz", fields["Model"]
    )
    assert "deleted by the teardown" in fields["Endpoint"]
    assert re.search(r"\((\d)/5 right\)", fields["Predictions"])
    assert fields["Full log"].strip() == str(tmp_path / "demo" / "last-run.log")
    assert (tmp_path / "demo" / "last-run.log").stat().st_size > len(out)  # the full log has the rest
    job_log = subprocess.run(fields["Job log"].split(), capture_output=True, text=True, timeout=120, check=True)
    assert "epoch=10 loss=" in job_log.stdout
