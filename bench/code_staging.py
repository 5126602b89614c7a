"""Code staging: re-submitting an unchanged 50 MB source_dir, content-addressed vs re-uploaded per job.

Both ways run through the hook on the local backend, whose object store stands in for S3; bytes are
counted at the S3 client (``put_object``). Ours: ``hook.stage_code`` twice (the second finds the same
digest and uploads nothing). The SageMaker SDK's way: pack and upload ``sourcedir.tar.gz`` under each
job's own prefix, every time.

Child: ``python -m bench.code_staging <json config>``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from bench.common import Figure, child_env, emit, new_home, run_child, scratch_dir

GOAL_SECONDS = 1.0


def child(cfg: dict[str, Any]) -> None:
    """Stage the same source_dir twice each way; print bytes and seconds."""
    from airflow_tf_sm.hook import TFSageMakerHook
    from airflow_tf_sm.training.code import build_sourcedir
    from airflow_tf_sm.training.spec import TrainingJobSpec

    work = scratch_dir("airflow_tf_sm_bench_staging_")
    source = work / "code"
    source.mkdir()
    (source / "train.py").write_text("print('training')\n")
    for i in range(cfg["files"]):
        (source / f"asset-{i:03d}.bin").write_bytes(os.urandom(cfg["megabytes"] * 2**20 // cfg["files"]))
    hook = TFSageMakerHook(backend="local", local_root=str(work / "root"), region_name="us-east-1")
    s3 = hook.clients.s3
    uploaded = [0]
    put_object = s3.put_object

    def counting_put(**kwargs: Any) -> Any:
        uploaded[0] += len(kwargs["Body"])
        return put_object(**kwargs)

    s3.put_object = counting_put
    spec = TrainingJobSpec.from_mapping(
        {"entry_point": "train.py", "source_dir": str(source), "output_path": "s3://bench/models"}
    )

    def ours() -> tuple[float, int]:
        before, start = uploaded[0], time.perf_counter()
        hook.training.stage_code(spec)
        return time.perf_counter() - start, uploaded[0] - before

    def per_job(job: str) -> tuple[float, int]:
        before, start = uploaded[0], time.perf_counter()
        staged = build_sourcedir(str(source), "train.py")
        hook.write_bytes(f"s3://bench/{job}/source/sourcedir.tar.gz", staged.data)
        return time.perf_counter() - start, uploaded[0] - before

    first, second = ours(), ours()
    naive = [per_job("job-1"), per_job("job-2")]
    size = sum(f.stat().st_size for f in source.iterdir())
    emit({"size": size, "first": first, "second": second, "naive": naive})


def measure(megabytes: int = 50, files: int = 50) -> list[Figure]:
    """Build a ``megabytes`` source_dir of random files and stage it both ways; return the row."""
    data = run_child(
        ["-m", "bench.code_staging", json.dumps({"megabytes": megabytes, "files": files})],
        child_env(new_home()),
        timeout=300,
    )
    seconds, sent = data["second"]
    naive_seconds, naive_sent = data["naive"][1]
    mib = 2**20
    return [
        Figure(
            f"4. Code staging: re-submit unchanged {data['size'] / mib:.0f} MB source_dir",
            f"{sent} bytes in {seconds:.2f} s",
            f"0 bytes, < {GOAL_SECONDS:.0f} s",
            sent == 0 and seconds < GOAL_SECONDS,
            f"first submit {data['first'][1] / mib:.1f} MB in {data['first'][0]:.2f} s (packing included); "
            f"re-upload per job (SDK way): {naive_sent / mib:.1f} MB in {naive_seconds:.2f} s every time; "
            f"{files} random files",
        )
    ]


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))
