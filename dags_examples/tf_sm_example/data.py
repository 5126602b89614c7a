"""Synthetic data for the example training job: three classes on concentric rings, hidden in 8 features.

Each sample starts as a point in a 2-D plane: class ``k`` lies on a ring of radius ``k + 1`` (with radial
noise). The plane is embedded into 8 dimensions by a fixed orthonormal map, a little isotropic noise is
added, and every feature gets its own scale and offset, so a model needs both input normalisation and a
nonlinear decision boundary. A small share of the labels is flipped on purpose. A small MLP reaches a
test accuracy of 0.96-0.97 in 10 epochs (0.90 after the first); 0.90 is the stated target.

The task (the embedding, the scales) is the same for every seed; the seed only draws the samples, so a
schedule can seed each day's data from its date (:func:`seed_from_date`) and still train the same problem.

Only the standard library and numpy are used.
"""

from __future__ import annotations

import datetime as _dt
import io

import numpy as np

N_FEATURES = 8
N_CLASSES = 3
FEATURE_NAMES = tuple(f"f{i}" for i in range(N_FEATURES))
LABEL_NAME = "label"
LABEL_NOISE = 0.02
"""Share of labels replaced by a random class."""

RADIAL_NOISE = 0.2
FEATURE_NOISE = 0.05
TARGET_ACCURACY = 0.90
"""Test accuracy the example script reaches with its default hyperparameters."""

METRIC_DEFINITIONS = (
    {"Name": "train:loss", "Regex": r"\bloss=([0-9.]+)"},
    {"Name": "train:accuracy", "Regex": r"\baccuracy=([0-9.]+)"},
    {"Name": "validation:loss", "Regex": r"val_loss=([0-9.]+)"},
    {"Name": "validation:accuracy", "Regex": r"val_accuracy=([0-9.]+)"},
)
"""SageMaker ``MetricDefinitions`` matching the lines ``code/train.py`` prints (the last match wins)."""

_TASK_SEED = 20240601  # fixes the embedding and the feature scales: the same task for every data seed


def _task_parameters() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the fixed embedding (8x2, orthonormal columns), per-feature scales and offsets."""
    rng = np.random.default_rng(_TASK_SEED)
    basis, _ = np.linalg.qr(rng.normal(size=(N_FEATURES, 2)))
    scales = 10.0 ** rng.uniform(-1.0, 2.0, size=N_FEATURES)
    offsets = rng.uniform(-50.0, 50.0, size=N_FEATURES)
    return basis, scales, offsets


def make_samples(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` samples with balanced classes.

    Args:
        seed: Seed of the sample draw; the same seed always gives the same samples.
        n: Number of samples (at least 1).

    Returns:
        ``(features, labels)``: a float64 array of shape ``(n, 8)`` and an int64 array of shape ``(n,)``.
        Before label noise every class has ``n // 3`` or ``n // 3 + 1`` samples.

    Raises:
        ValueError: if ``n`` is smaller than 1.
    """
    if n < 1:
        raise ValueError(f"n: {n!r} -- must be at least 1")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % N_CLASSES)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    radius = labels + 1.0 + rng.normal(0.0, RADIAL_NOISE, size=n)
    plane = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    basis, scales, offsets = _task_parameters()
    features = plane @ basis.T + rng.normal(0.0, FEATURE_NOISE, size=(n, N_FEATURES))
    features = features * scales + offsets
    flip = rng.random(n) < LABEL_NOISE
    labels = np.where(flip, rng.integers(0, N_CLASSES, size=n), labels)
    return features, labels.astype(np.int64)


def to_csv(features: np.ndarray, labels: np.ndarray) -> bytes:
    """Encode samples as CSV: a header ``f0,...,f7,label`` and one row per sample.

    Args:
        features: Array of shape ``(n, 8)``.
        labels: Integer array of shape ``(n,)``.

    Returns:
        UTF-8 CSV bytes with Unix line endings; floats are written with 6 decimals.
    """
    out = io.StringIO()
    out.write(",".join((*FEATURE_NAMES, LABEL_NAME)) + "\n")
    for row, label in zip(features, labels, strict=True):
        out.write(",".join(f"{value:.6f}" for value in row) + f",{int(label)}\n")
    return out.getvalue().encode("utf-8")


def make_dataset(seed: int, n_train: int = 4000, n_test: int = 1000) -> dict[str, bytes]:
    """Build the train and test CSV files of one dataset.

    Args:
        seed: Seed of the draw (see :func:`seed_from_date`); the same seed always gives the same bytes.
        n_train: Number of training rows.
        n_test: Number of test rows (drawn independently of the training rows).

    Returns:
        ``{"train/data.csv": ..., "test/data.csv": ...}``: relative paths to CSV bytes, ready to be
        uploaded under a prefix whose ``train/`` and ``test/`` parts become the training channels.
    """
    train_x, train_y = make_samples(seed * 2, n_train)
    test_x, test_y = make_samples(seed * 2 + 1, n_test)
    return {"train/data.csv": to_csv(train_x, train_y), "test/data.csv": to_csv(test_x, test_y)}


def seed_from_date(ds: str) -> int:
    """Turn a date stamp ``YYYY-MM-DD`` into a seed: ``"2024-03-05"`` -> ``20240305``.

    Args:
        ds: The date, ISO format.

    Returns:
        ``year * 10000 + month * 100 + day``; distinct dates give distinct seeds.

    Raises:
        ValueError: if ``ds`` is not a ``YYYY-MM-DD`` date.
    """
    try:
        day = _dt.date.fromisoformat(ds)
    except (TypeError, ValueError):
        raise ValueError(f"ds: {ds!r} -- must be a date in the form YYYY-MM-DD") from None
    if len(ds) != 10:
        raise ValueError(f"ds: {ds!r} -- must be a date in the form YYYY-MM-DD")
    return day.year * 10000 + day.month * 100 + day.day
