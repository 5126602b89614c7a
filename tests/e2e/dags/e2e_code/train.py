"""A tiny script-mode training script for the end-to-end tests (standard library only, no TensorFlow).

Trains a nearest-centroid classifier on the ``train`` channel's CSV (header, features, ``label`` last) when
there is one, scores it on the ``test`` channel, and prints ``data_md5=<md5 of train/data.csv>`` (so a test
can tell which day's data a job read) and ``accuracy=<test accuracy>``. ``--seconds S`` makes it last at
least S seconds, printing a progress line each second, so drills can act while it runs.
"""

from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import json
import os
import time

Row = tuple[list[float], int]


def read(channel: str) -> tuple[list[str], list[Row]]:
    """Return the channel's CSV files and their rows (features, label)."""
    files = sorted(glob.glob(os.path.join(channel, "**", "*.csv"), recursive=True))
    rows: list[Row] = []
    for path in files:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            rows += [([float(v) for v in row[:-1]], int(row[-1])) for row in reader]
    return files, rows


def train(rows: list[Row]) -> dict[int, list[float]]:
    """Return the centroid of each class."""
    sums: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    for features, label in rows:
        acc = sums.setdefault(label, [0.0] * len(features))
        for i, value in enumerate(features):
            acc[i] += value
        counts[label] = counts.get(label, 0) + 1
    return {label: [v / counts[label] for v in acc] for label, acc in sums.items()}


def predict(centroids: dict[int, list[float]], features: list[float]) -> int:
    """Return the class of the nearest centroid."""
    return min(centroids, key=lambda c: sum((a - b) ** 2 for a, b in zip(centroids[c], features, strict=True)))


def main() -> None:
    """Train, score, wait out ``--seconds``, save the model."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=0.0)
    args, _ = parser.parse_known_args()
    started = time.time()
    model: dict[int, list[float]] = {}
    train_dir = os.environ.get("SM_CHANNEL_TRAIN")
    if train_dir:
        files, rows = read(train_dir)
        with open(files[0], "rb") as fh:
            print(f"data_md5={hashlib.md5(fh.read()).hexdigest()}", flush=True)
        model = train(rows)
        _, test = read(os.environ["SM_CHANNEL_TEST"])
        hits = sum(predict(model, features) == label for features, label in test)
        print(f"accuracy={hits / len(test):.4f}", flush=True)
    step = 0
    while time.time() - started < args.seconds:
        time.sleep(1)
        step += 1
        print(f"step={step}", flush=True)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as fh:
        json.dump({str(k): v for k, v in model.items()}, fh)
    print("done", flush=True)


if __name__ == "__main__":
    main()
