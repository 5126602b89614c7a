"""The example dataset generator and the example SageMaker script-mode training script."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

np = pytest.importorskip("numpy")

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "dags_examples" / "tf_sm_example"
TRAIN_SCRIPT = EXAMPLE_DIR / "code" / "train.py"

# The default hyperparameters reach 0.96-0.97 (measured on several seeds), 3 epochs about 0.96. Floor:
ACCURACY_THRESHOLD = 0.90


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # no __pycache__ next to the example code: it would end up in the staged sourcedir.tar.gz
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
    return module


data = _load("tf_sm_example_data", EXAMPLE_DIR / "data.py")
train_script = _load("tf_sm_example_train", TRAIN_SCRIPT)


def _rows(csv_bytes: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(csv_bytes.decode("utf-8"))))


def _sm_env(root: Path, dataset: dict[str, bytes]) -> dict[str, str]:
    """Write the dataset into channel dirs and build the SageMaker environment of the script."""
    for relpath, content in dataset.items():
        channel, filename = relpath.split("/")
        target = root / "input" / "data" / channel / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    (root / "model").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    env.update(
        {
            "SM_MODEL_DIR": str(root / "model"),
            "SM_CHANNEL_TRAIN": str(root / "input" / "data" / "train"),
            "SM_CHANNEL_TEST": str(root / "input" / "data" / "test"),
            "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
            "SM_OUTPUT_DIR": str(root / "output"),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
    )
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


# ---------------------------------------------------------------- data.py (no TensorFlow)


def test_make_dataset_is_deterministic_per_seed() -> None:
    first = data.make_dataset(7, n_train=300, n_test=90)
    again = data.make_dataset(7, n_train=300, n_test=90)
    other = data.make_dataset(8, n_train=300, n_test=90)
    assert set(first) == {"train/data.csv", "test/data.csv"}
    assert first == again
    assert first["train/data.csv"] != other["train/data.csv"]
    assert first["test/data.csv"] != other["test/data.csv"]
    # the test split is not a copy of the training split
    assert _rows(first["train/data.csv"])[1] != _rows(first["test/data.csv"])[1]


def test_make_dataset_csv_layout_and_class_balance() -> None:
    dataset = data.make_dataset(20240102, n_train=3000, n_test=600)
    for relpath, n in (("train/data.csv", 3000), ("test/data.csv", 600)):
        rows = _rows(dataset[relpath])
        assert rows[0] == [*(f"f{i}" for i in range(8)), "label"]
        assert len(rows) == n + 1
        features = np.array([[float(v) for v in row[:8]] for row in rows[1:]])
        labels = np.array([int(row[8]) for row in rows[1:]])
        assert features.shape == (n, 8) and np.isfinite(features).all()
        counts = np.bincount(labels, minlength=3)
        assert len(counts) == 3
        # balanced before the 2 % label noise: every class within a few percent of a third
        assert (np.abs(counts / n - 1 / 3) < 0.03).all(), counts
        # features have very different scales: the model needs its normalisation layer
        stds = features.std(axis=0)
        assert stds.max() / stds.min() > 100


def test_make_samples_classes_are_rings_in_a_hidden_plane() -> None:
    features, labels = data.make_samples(3, 3000)
    basis, scales, offsets = data._task_parameters()
    plane = ((features - offsets) / scales) @ basis  # undo the scaling and the embedding
    radius = np.linalg.norm(plane, axis=1)
    predicted = np.clip(np.round(radius) - 1, 0, 2).astype(int)
    # the label is (up to noise) the ring the point lies on
    assert (predicted == labels).mean() > data.TARGET_ACCURACY


def test_make_samples_rejects_empty() -> None:
    with pytest.raises(ValueError, match="n: 0"):
        data.make_samples(1, 0)


def test_seed_from_date() -> None:
    assert data.seed_from_date("2024-03-05") == 20240305
    assert data.seed_from_date("1999-12-31") == 19991231
    assert data.seed_from_date("2024-03-05") != data.seed_from_date("2024-03-06")
    for bad in ("2024-3-5", "20240305", "2024-02-30", "2024-03-05T00:00:00", ""):
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            data.seed_from_date(bad)


def test_metric_definitions_match_the_script_lines() -> None:
    log = (
        "epoch=1 loss=0.5310 accuracy=0.7717 val_loss=0.3441 val_accuracy=0.9050\n"
        "final val_accuracy=0.9740 val_loss=0.1354\n"
    )
    last = {d["Name"]: re.findall(d["Regex"], log)[-1] for d in data.METRIC_DEFINITIONS}
    assert last == {
        "train:loss": "0.5310",
        "train:accuracy": "0.7717",
        "validation:loss": "0.1354",
        "validation:accuracy": "0.9740",
    }


# ---------------------------------------------------------------- train.py without TensorFlow


@pytest.mark.parametrize(
    ("text", "expected"),
    [("True", True), ("False", False), ("true", True), ("0", False), ("YES", True), (" off ", False)],
)
def test_str2bool(text: str, expected: bool) -> None:
    assert train_script.str2bool(text) is expected


def test_str2bool_rejects_other_text() -> None:
    with pytest.raises(Exception, match="expected a boolean"):
        train_script.str2bool("maybe")


def test_parse_args_reads_sagemaker_env_and_both_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    monkeypatch.setenv("SM_CHANNEL_TEST", "/opt/ml/input/data/test")
    monkeypatch.setenv("SM_MODEL_DIR", "/opt/ml/model")
    args = train_script.parse_args(
        [
            "--batch_size",
            "32",
            "--learning-rate",
            "0.5",
            "--shuffle",
            "False",
            "--model_dir",
            "s3://b/k",
            "--x",
            "1",
        ]
    )
    assert (args.train, args.test, args.sm_model_dir) == (
        "/opt/ml/input/data/train",
        "/opt/ml/input/data/test",
        "/opt/ml/model",
    )
    assert (args.batch_size, args.learning_rate, args.shuffle, args.epochs) == (32, 0.5, False, 10)
    assert args.model_dir == "s3://b/k"


def test_parse_args_requires_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SM_CHANNEL_TRAIN", "SM_CHANNEL_TEST", "SM_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(train_script.HyperparameterError, match="--train is required"):
        train_script.parse_args([])


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--epochs", "0"], "HyperparameterError: epochs, batch-size and hidden-units must be at least 1"),
        (["--shuffle", "perhaps"], "HyperparameterError: argument --shuffle"),
        (["--epochs", "ten"], "HyperparameterError: argument --epochs"),
    ],
)
def test_bad_hyperparameter_writes_failure_file(tmp_path: Path, args: list[str], reason: str) -> None:
    env = _sm_env(tmp_path, data.make_dataset(1, n_train=30, n_test=9))
    result = _run(args, env, tmp_path)
    assert result.returncode == 1
    failure = (tmp_path / "output" / "failure").read_text()
    assert failure.startswith(reason), failure
    assert "Traceback" in failure
    assert not (tmp_path / "model" / "1").exists()


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"test/notes.txt": b"not data"}, "FileNotFoundError: no .csv file in channel directory "),
        ({"train/data.csv": b"a,b\n1,2\n"}, "ValueError: "),
        ({"train/data.csv": b"h\n" + b"1," * 8 + b"7\n"}, "ValueError: "),
    ],
)
def test_bad_data_writes_failure_file(tmp_path: Path, files: dict[str, bytes], reason: str) -> None:
    env = _sm_env(tmp_path, files)
    result = _run([], env, tmp_path)
    assert result.returncode == 1
    failure = (tmp_path / "output" / "failure").read_text()
    assert failure.startswith(reason), failure
    assert "/input/data/train" in failure.splitlines()[0]


# ---------------------------------------------------------------- real training (TensorFlow)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("sm_job")
    env = _sm_env(root, data.make_dataset(data.seed_from_date("2024-01-02")))
    result = _run(["--epochs", "3", "--batch-size", "64", "--learning-rate", "0.01"], env, root)
    return {"root": root, "result": result}


@pytest.mark.tensorflow
def test_training_succeeds_and_reports_metrics(trained: dict[str, Any]) -> None:
    result, root = trained["result"], trained["root"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (root / "output" / "failure").exists()
    metrics = json.loads((root / "output" / "data" / "metrics.json").read_text())
    assert metrics["epochs"] == 3
    assert metrics["val_accuracy"] >= ACCURACY_THRESHOLD
    assert (metrics["train_rows"], metrics["test_rows"]) == (4000, 1000)

    epoch_lines = re.findall(
        r"^epoch=(\d+) loss=([0-9.]+) accuracy=([0-9.]+) val_loss=([0-9.]+) val_accuracy=([0-9.]+)$",
        result.stdout,
        flags=re.M,
    )
    assert [int(line[0]) for line in epoch_lines] == [1, 2, 3]
    for line, val_acc in zip(epoch_lines, metrics["history"]["val_accuracy"], strict=True):
        assert float(line[4]) == pytest.approx(val_acc, abs=5e-5)
    final = re.search(r"^final val_accuracy=([0-9.]+) val_loss=([0-9.]+)$", result.stdout, flags=re.M)
    assert final is not None, result.stdout
    assert float(final.group(1)) == pytest.approx(metrics["val_accuracy"], abs=5e-5)
    assert float(final.group(2)) == pytest.approx(metrics["val_loss"], abs=5e-5)


@pytest.mark.tensorflow
def test_saved_model_serves_the_reported_predictions(trained: dict[str, Any]) -> None:
    result, root = trained["result"], trained["root"]
    assert result.returncode == 0, result.stderr[-3000:]
    export = root / "model" / "1"
    assert (export / "saved_model.pb").is_file()
    assert (export / "variables").is_dir()

    sample = json.loads((root / "output" / "data" / "predictions_sample.json").read_text())
    instances = np.array(sample["instances"], dtype=np.float32)
    test_rows = _rows((root / "input" / "data" / "test" / "data.csv").read_bytes())[1:]
    expected_instances = np.array([[float(v) for v in row[:8]] for row in test_rows[: len(instances)]], np.float32)
    np.testing.assert_array_equal(instances, expected_instances)

    import tensorflow as tf

    loaded = tf.saved_model.load(str(export))
    serve = loaded.signatures["serving_default"]
    (spec,) = serve.structured_input_signature[1].values()
    assert spec.dtype == tf.float32 and spec.shape.as_list() == [None, 8]
    (output,) = serve(tf.constant(instances)).values()
    predictions = output.numpy()
    assert predictions.shape == (len(instances), 3)
    np.testing.assert_allclose(predictions, np.array(sample["predictions"]), atol=1e-5)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.tensorflow
def test_default_hyperparameters_meet_accuracy(tmp_path: Path) -> None:
    env = _sm_env(tmp_path, data.make_dataset(data.seed_from_date("2024-01-03")))
    result = _run([], env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "output" / "data" / "metrics.json").read_text())
    assert metrics["epochs"] == 10
    assert metrics["val_accuracy"] >= ACCURACY_THRESHOLD
