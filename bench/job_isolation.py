"""Job isolation: what private channel copies and budgeted metric regexes cost a local training job.

Channels: a ~100 MB channel (10 objects of 10 MiB, in the page cache) placed in a job's ``input/data/`` the
way the runner does it now (``jobfiles.place_channels``: a private copy of each object, ``copy_file_range``),
against hard links (the previous way, which let a script change the stored objects). Metrics: the cost of
running the job's metric definitions in the helper process with a time budget (``metrics.final_metrics``)
against applying them in the runner itself (``container.extract_metrics``), on a log of 10,000 lines.

Child: ``python -m bench.job_isolation <json config>``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from typing import Any

from bench.common import Figure, child_env, emit, median, new_home, run_child, scratch_dir

GOAL_COPY_SECONDS = 1.0
GOAL_METRIC_SECONDS = 0.5


def child(cfg: dict[str, Any]) -> None:
    """Place the channel both ways, apply the metrics both ways; print the seconds of each round."""
    from airflow_tf_sm.backends.local.container import extract_metrics
    from airflow_tf_sm.backends.local.jobfiles import place_channels
    from airflow_tf_sm.backends.local.metrics import final_metrics
    from airflow_tf_sm.backends.local.store import LocalObjectStore, relative_key, split_s3_uri

    work = scratch_dir("airflow_tf_sm_bench_isolation_")
    store = LocalObjectStore(work / "root")
    size = cfg["megabytes"] * 2**20 // cfg["files"]
    for i in range(cfg["files"]):
        store.put_bytes("bench", f"data/part-{i:03d}.bin", os.urandom(size))
    uri = "s3://bench/data"
    channel = {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}

    def copies(target: Any) -> float:
        start = time.perf_counter()
        place_channels(store, [channel], target, 0, 1)
        return time.perf_counter() - start

    def links(target: Any) -> float:
        start = time.perf_counter()
        bucket, prefix = split_s3_uri(uri)
        for obj in store.iter_objects(bucket, prefix):
            dest = target / "train" / relative_key(obj.key, prefix)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(obj.path, dest)
        return time.perf_counter() - start

    copy_s, link_s = [], []
    for round_ in range(cfg["rounds"]):
        for way, seconds in ((copies, copy_s), (links, link_s)):
            target = work / f"job-{round_}-{way.__name__}" / "input" / "data"
            target.mkdir(parents=True)
            seconds.append(way(target))
            shutil.rmtree(target.parents[1])

    definitions = [
        {"Name": "loss", "Regex": r"loss=([0-9.]+)"},
        {"Name": "accuracy", "Regex": r"accuracy: ([0-9.]+)"},
        {"Name": "epoch", "Regex": r"epoch (\d+)"},
    ]
    events = [
        {"message": f"epoch {i} loss={1 / (i + 1):.4f} accuracy: {i / cfg['lines']:.4f}", "timestamp": i}
        for i in range(cfg["lines"])
    ]
    helper_s, inline_s = [], []
    for _ in range(cfg["rounds"]):
        start = time.perf_counter()
        helper = final_metrics(definitions, events, 10.0, print)
        helper_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        inline = extract_metrics(definitions, events)
        inline_s.append(time.perf_counter() - start)
        assert helper == inline
    emit({"copy": copy_s, "link": link_s, "helper": helper_s, "inline": inline_s, "bytes": size * cfg["files"]})


def measure(megabytes: int = 100, files: int = 10, rounds: int = 5, lines: int = 10_000) -> list[Figure]:
    """Run the child; return the channel-copy row and the metric-helper row."""
    cfg = {"megabytes": megabytes, "files": files, "rounds": rounds, "lines": lines}
    data = run_child(["-m", "bench.job_isolation", json.dumps(cfg)], child_env(new_home()), timeout=600)
    copy, link = median(data["copy"]), median(data["link"])
    helper, inline = median(data["helper"]), median(data["inline"])
    mib = data["bytes"] / 2**20
    return [
        Figure(
            f"Isolation: private copy of a {mib:.0f} MB channel ({files} objects)",
            f"{copy:.3f} s ({mib / copy:.0f} MB/s)",
            f"< {GOAL_COPY_SECONDS:.0f} s",
            copy < GOAL_COPY_SECONDS,
            f"hard links (the old way, shared with the store): {link * 1000:.1f} ms; median of {rounds} rounds, "
            "page cache warm, copy_file_range",
        ),
        Figure(
            f"Isolation: 3 metric definitions x {lines} log lines in the budgeted helper",
            f"{helper:.3f} s",
            f"< {GOAL_METRIC_SECONDS} s",
            helper < GOAL_METRIC_SECONDS,
            f"in the runner itself (no budget, blocks the heartbeat): {inline:.3f} s; the difference is the "
            f"helper process start; median of {rounds} rounds",
        ),
    ]


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))
