"""SageMaker script-mode training script: a Keras MLP for the three-ring example dataset.

It follows the SageMaker TensorFlow container contract, so it runs unchanged in the real
training container and on the project's local backend:

* hyperparameters arrive as command-line arguments (``--epochs 10 --batch-size 64 ...``);
  the channel and model directories come from ``SM_CHANNEL_TRAIN``, ``SM_CHANNEL_TEST`` and
  ``SM_MODEL_DIR``; ``--model_dir`` (added by the SageMaker SDK) is accepted and not used;
* the data are CSV files (header, 8 float features, an integer ``label`` last) in the channel directories;
* after each epoch one line ``epoch=3 loss=0.2134 accuracy=0.9312 val_loss=0.2301 val_accuracy=0.9250``
  is printed, and at the end ``final val_accuracy=0.9300 val_loss=0.2100``, so metric definitions
  such as ``val_accuracy=([0-9.]+)`` pick the values up;
* ``metrics.json`` and ``predictions_sample.json`` go to ``SM_OUTPUT_DATA_DIR``;
* the model is exported as a TensorFlow Serving SavedModel to ``<SM_MODEL_DIR>/1``
  (signature ``serving_default``: a float32 batch of shape ``(None, 8)`` in, class probabilities out);
* on any error the traceback is written to ``<SM_OUTPUT_DIR>/failure`` and the script exits with 1.

Nothing needs installing in the container beyond TensorFlow (there is no requirements.txt).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
import traceback
from typing import Any, NoReturn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

N_FEATURES = 8
N_CLASSES = 3
SAMPLE_ROWS = 5
MODEL_VERSION = "1"


class HyperparameterError(ValueError):
    """A command-line argument (a hyperparameter) is missing or invalid."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting, so the failure file gets the message."""

    def error(self, message: str) -> NoReturn:
        raise HyperparameterError(message)


def str2bool(value: str | bool) -> bool:
    """Read a boolean hyperparameter.

    SageMaker passes ``True``/``False`` (Python ``str()`` of the JSON value) on the command line, and
    ``argparse``'s ``type=bool`` would read ``"False"`` as true, hence this small parser.

    Args:
        value: ``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off`` in any case, or a bool.

    Returns:
        The boolean.

    Raises:
        argparse.ArgumentTypeError: for any other text.
    """
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in ("true", "1", "yes", "y", "on"):
        return True
    if text in ("false", "0", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {value!r}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse hyperparameters and SageMaker directories.

    Both ``--batch-size`` and ``--batch_size`` spellings are accepted (the hyperparameter key becomes
    the option name). Unknown arguments are ignored, as the SageMaker SDK examples do.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The parsed namespace.

    Raises:
        HyperparameterError: for an invalid value or a missing directory.
    """
    parser = _Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=64)
    parser.add_argument("--learning-rate", "--learning_rate", dest="learning_rate", type=float, default=0.01)
    parser.add_argument("--hidden-units", "--hidden_units", dest="hidden_units", type=int, default=64)
    parser.add_argument("--shuffle", type=str2bool, default=True)
    parser.add_argument("--seed", type=int, default=42)
    # added by the SageMaker SDK: an S3 URI where a script may save checkpoints; unused here
    parser.add_argument("--model_dir", "--model-dir", dest="model_dir", type=str, default=None)
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--test", type=str, default=os.environ.get("SM_CHANNEL_TEST"))
    parser.add_argument(
        "--sm-model-dir", dest="sm_model_dir", type=str, default=os.environ.get("SM_MODEL_DIR")
    )
    parser.add_argument(
        "--output-data-dir", dest="output_data_dir", type=str, default=os.environ.get("SM_OUTPUT_DATA_DIR")
    )
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"ignoring unknown arguments: {' '.join(unknown)}", flush=True)
    for name, env in (
        ("train", "SM_CHANNEL_TRAIN"),
        ("test", "SM_CHANNEL_TEST"),
        ("sm_model_dir", "SM_MODEL_DIR"),
    ):
        if not getattr(args, name):
            raise HyperparameterError(f"--{name.replace('_', '-')} is required (or set {env})")
    if args.epochs < 1 or args.batch_size < 1 or args.hidden_units < 1:
        raise HyperparameterError("epochs, batch-size and hidden-units must be at least 1")
    if not args.learning_rate > 0:
        raise HyperparameterError(f"learning-rate must be positive, got {args.learning_rate}")
    return args


def load_channel(directory: str) -> tuple[np.ndarray, np.ndarray]:
    """Read every ``*.csv`` file under a channel directory (sorted by path).

    Args:
        directory: The channel directory, e.g. ``/opt/ml/input/data/train``.

    Returns:
        ``(features, labels)``: float32 ``(n, 8)`` and int32 ``(n,)``.

    Raises:
        FileNotFoundError: if the directory holds no CSV file.
        ValueError: if a file does not have 8 feature columns plus a label, or a label is not a class.
    """
    files = sorted(glob.glob(os.path.join(directory, "**", "*.csv"), recursive=True))
    if not files:
        raise FileNotFoundError(f"no .csv file in channel directory {directory}")
    tables = []
    for path in files:
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
        if table.shape[1] != N_FEATURES + 1:
            raise ValueError(f"{path}: expected {N_FEATURES + 1} columns, found {table.shape[1]}")
        tables.append(table)
    data = np.concatenate(tables)
    labels = data[:, N_FEATURES]
    if not np.all((labels == np.round(labels)) & (labels >= 0) & (labels < N_CLASSES)):
        raise ValueError(f"{directory}: labels must be integers 0..{N_CLASSES - 1}")
    return data[:, :N_FEATURES].astype(np.float32), labels.astype(np.int32)


def build_model(train_x: np.ndarray, hidden_units: int, learning_rate: float) -> Any:
    """Build and compile the MLP; its first layer normalises inputs with the training data's statistics.

    Args:
        train_x: Training features, used to adapt the normalisation layer.
        hidden_units: Width of the two hidden layers.
        learning_rate: Adam learning rate.

    Returns:
        A compiled ``keras.Model`` mapping float32 ``(None, 8)`` to class probabilities ``(None, 3)``.
    """
    import tensorflow as tf

    keras = tf.keras
    normalizer = keras.layers.Normalization(name="normalize")
    normalizer.adapt(train_x)
    inputs = keras.Input(shape=(N_FEATURES,), dtype="float32", name="features")
    x = normalizer(inputs)
    x = keras.layers.Dense(hidden_units, activation="relu")(x)
    x = keras.layers.Dense(hidden_units, activation="relu")(x)
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="ring_mlp")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _metric_line(prefix: str, logs: dict[str, Any], keys: tuple[str, ...]) -> str:
    parts = [f"{key}={float(logs[key]):.4f}" for key in keys if key in logs]
    return " ".join([prefix, *parts])


def _epoch_printer() -> Any:
    """Return a Keras callback printing one ``epoch=N key=value ...`` line per epoch."""
    import tensorflow as tf

    class EpochPrinter(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            keys = ("loss", "accuracy", "val_loss", "val_accuracy")
            print(_metric_line(f"epoch={epoch + 1}", logs or {}, keys), flush=True)

    return EpochPrinter()


def export_model(model: Any, model_dir: str) -> str:
    """Export ``model`` for TensorFlow Serving to ``<model_dir>/1`` and return that path."""
    path = os.path.join(model_dir, MODEL_VERSION)
    model.export(path, verbose=False)
    return path


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train, evaluate, export and write the output files.

    Args:
        args: As returned by :func:`parse_args`.

    Returns:
        The content of ``metrics.json``.
    """
    started = time.monotonic()
    train_x, train_y = load_channel(args.train)
    test_x, test_y = load_channel(args.test)
    print(f"loaded train={len(train_y)} test={len(test_y)} rows", flush=True)

    import tensorflow as tf

    tf.keras.utils.set_random_seed(args.seed)

    model = build_model(train_x, args.hidden_units, args.learning_rate)
    history = model.fit(
        train_x,
        train_y,
        epochs=args.epochs,
        batch_size=args.batch_size,
        shuffle=args.shuffle,
        validation_data=(test_x, test_y),
        verbose=0,
        callbacks=[_epoch_printer()],
    )
    val_loss, val_accuracy = model.evaluate(test_x, test_y, batch_size=256, verbose=0)
    print(f"final val_accuracy={val_accuracy:.4f} val_loss={val_loss:.4f}", flush=True)

    exported = export_model(model, args.sm_model_dir)
    print(f"exported SavedModel to {exported}", flush=True)

    metrics = {
        "val_accuracy": float(val_accuracy),
        "val_loss": float(val_loss),
        "epochs": args.epochs,
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "train_rows": len(train_y),
        "test_rows": len(test_y),
        "seconds": round(time.monotonic() - started, 2),
    }
    sample = test_x[:SAMPLE_ROWS]
    predictions = model.predict(sample, verbose=0)
    if args.output_data_dir:
        os.makedirs(args.output_data_dir, exist_ok=True)
        with open(os.path.join(args.output_data_dir, "metrics.json"), "w") as fh:
            json.dump(metrics, fh, indent=2)
        with open(os.path.join(args.output_data_dir, "predictions_sample.json"), "w") as fh:
            json.dump({"instances": sample.tolist(), "predictions": predictions.tolist()}, fh)
    return metrics


def write_failure(output_dir: str | None, text: str) -> None:
    """Write ``text`` to ``<output_dir>/failure``; SageMaker reports its first 1024 chars as FailureReason."""
    if not output_dir:
        return
    try:
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, "failure"), "w") as fh:
            fh.write(text)
    except OSError as exc:
        print(f"could not write the failure file: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the training; on an exception write ``<SM_OUTPUT_DIR>/failure`` and return 1.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit code.
    """
    try:
        train(parse_args(argv))
    except Exception as exc:
        details = traceback.format_exc()
        # the reason first: only the first 1024 characters become the job's FailureReason
        write_failure(os.environ.get("SM_OUTPUT_DIR"), f"{type(exc).__name__}: {exc}\n\n{details}")
        print(details, file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
