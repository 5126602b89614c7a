"""SageMaker script-mode training with MultiWorkerMirroredStrategy: the ring classifier on several hosts.

Every host of the job runs this script. The TensorFlow container (and the local backend) gives each one a
``TF_CONFIG`` naming all workers (``{"cluster": {"worker": [...]}, "task": {"index": i, "type": "worker"}}``);
``tf.distribute.MultiWorkerMirroredStrategy`` reads it, so the hosts train one model together: each reads
its own shard of every batch and the gradients are all-reduced across hosts after every step.

The training loop is written with ``tf.GradientTape`` and plain ``tf.Variable`` s (an MLP, Adam) rather
than Keras ``model.fit``: Keras 3's ``fit`` fails under this strategy on TensorFlow 2.21 (``ValueError:
Attempt to convert a value (PerReplica...)``), while a custom loop is supported on every TF 2 version.

Only the chief (worker 0, ``algo-1``) exports the model: SageMaker uploads ``algo-1``'s ``/opt/ml/model``
as ``model.tar.gz`` and ignores the other hosts' model directories. The export is a TensorFlow Serving
SavedModel in ``<SM_MODEL_DIR>/1`` (signature ``serving_default``: float32 ``(None, 8)`` in, class
probabilities out). Per epoch a line ``epoch=3 loss=0.21 accuracy=0.93 val_loss=0.23 val_accuracy=0.92``
is printed, and at the end ``final val_accuracy=0.93 val_loss=0.21 workers=2``.
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import os
import sys
import traceback
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

N_FEATURES = 8
N_CLASSES = 3
MODEL_VERSION = "1"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the hyperparameters (``--epochs 8 --batch-size 32 ...``) and the SageMaker directories."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=32, help="per worker")
    parser.add_argument("--learning-rate", "--learning_rate", dest="learning_rate", type=float, default=0.01)
    parser.add_argument("--hidden-units", "--hidden_units", dest="hidden_units", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model_dir", type=str, default=None)  # added by the SDK; unused
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--test", type=str, default=os.environ.get("SM_CHANNEL_TEST"))
    parser.add_argument("--sm-model-dir", dest="sm_model_dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    args, _unknown = parser.parse_known_args(argv)
    return args


def load_channel(directory: str) -> tuple[np.ndarray, np.ndarray]:
    """Read the CSV files of a channel: 8 float features and an integer ``label`` last, one header line."""
    files = sorted(glob.glob(os.path.join(directory, "**", "*.csv"), recursive=True))
    if not files:
        raise FileNotFoundError(f"no .csv file in channel directory {directory}")
    data = np.concatenate([np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2) for path in files])
    return data[:, :N_FEATURES].astype(np.float32), data[:, N_FEATURES].astype(np.int32)


def worker_info() -> tuple[int, int]:
    """Return ``(this worker's index, number of workers)`` from TF_CONFIG (``(0, 1)`` without it)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = config.get("cluster", {}).get("worker", [])
    return int(config.get("task", {}).get("index", 0)), max(1, len(workers))


class RingMLP:
    """Two hidden ReLU layers over standardised inputs; the weights are distributed variables."""

    def __init__(self, hidden: int, mean: np.ndarray, std: np.ndarray, seed: int) -> None:
        import tensorflow as tf

        rng = np.random.default_rng(seed)
        sizes = [N_FEATURES, hidden, hidden, N_CLASSES]
        self.mean = tf.constant(mean, tf.float32)
        self.std = tf.constant(std, tf.float32)
        # ONLY_FIRST_REPLICA: every replica applies the same all-reduced update (see train_step)
        agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.weights = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            kernel = rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)
            self.weights.append(tf.Variable(kernel, aggregation=agg))
            self.weights.append(tf.Variable(np.zeros(fan_out, np.float32), aggregation=agg))

    def logits(self, x: Any) -> Any:
        """Return the class logits of a float32 ``(n, 8)`` batch."""
        import tensorflow as tf

        h = (x - self.mean) / self.std
        for i in range(0, len(self.weights) - 2, 2):
            h = tf.nn.relu(h @ self.weights[i] + self.weights[i + 1])
        return h @ self.weights[-2] + self.weights[-1]


class Adam:
    """Adam over a list of distributed variables (slots created in the strategy's scope)."""

    def __init__(self, variables: list[Any], learning_rate: float) -> None:
        import tensorflow as tf

        agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.variables = variables
        self.lr = learning_rate
        self.m = [tf.Variable(tf.zeros_like(v), aggregation=agg) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v), aggregation=agg) for v in variables]
        self.step = tf.Variable(0.0, aggregation=agg)

    def apply(self, grads: list[Any]) -> None:
        """Apply one Adam step with ``grads`` (already all-reduced: the same on every replica)."""
        self.step.assign_add(1.0)
        b1, b2, eps = 0.9, 0.999, 1e-7
        lr = self.lr * (1 - b2**self.step) ** 0.5 / (1 - b1**self.step)
        for var, grad, m, v in zip(self.variables, grads, self.m, self.v, strict=True):
            m.assign(b1 * m + (1 - b1) * grad)
            v.assign(b2 * v + (1 - b2) * grad * grad)
            var.assign_sub(lr * m / (v**0.5 + eps))


def export(model: RingMLP, model_dir: str) -> str:
    """Save a TensorFlow Serving SavedModel of the current weights to ``<model_dir>/1`` (plain variables)."""
    import tensorflow as tf

    module = tf.Module()
    module.weights = [tf.Variable(w.numpy()) for w in model.weights]
    mean, std = model.mean, model.std

    @tf.function(input_signature=[tf.TensorSpec([None, N_FEATURES], tf.float32, name="features")])
    def serve(features: Any) -> dict[str, Any]:
        h = (features - mean) / std
        weights = module.weights
        for i in range(0, len(weights) - 2, 2):
            h = tf.nn.relu(h @ weights[i] + weights[i + 1])
        return {"probabilities": tf.nn.softmax(h @ weights[-2] + weights[-1])}

    module.serve = serve
    path = os.path.join(model_dir, MODEL_VERSION)
    tf.saved_model.save(module, path, signatures={"serving_default": serve})
    return path


def train(args: argparse.Namespace) -> dict[str, float]:
    """Train with MultiWorkerMirroredStrategy; the chief exports the model. Return the final metrics."""
    import tensorflow as tf

    index, workers = worker_info()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    train_x, train_y = load_channel(args.train)
    test_x, test_y = load_channel(args.test)
    replicas = strategy.num_replicas_in_sync
    global_batch = args.batch_size * replicas
    print(f"worker {index} of {workers}: {replicas} replicas in sync, global batch {global_batch}", flush=True)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        data = tf.data.Dataset.from_tensor_slices((train_x, train_y))
        data = data.shard(context.num_input_pipelines, context.input_pipeline_id)  # this worker's rows
        data = data.shuffle(len(train_y), seed=args.seed, reshuffle_each_iteration=True)
        per_replica = context.get_per_replica_batch_size(global_batch)
        return data.batch(per_replica, drop_remainder=True).repeat()

    steps = max(1, len(train_y) // global_batch)
    batches = iter(strategy.distribute_datasets_from_function(dataset_fn))
    with strategy.scope():
        model = RingMLP(args.hidden_units, train_x.mean(axis=0), train_x.std(axis=0) + 1e-6, args.seed)
        optimizer = Adam(model.weights, args.learning_rate)

    def step_fn(x: Any, y: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            logits = model.logits(x)
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        grads = tape.gradient(loss, model.weights)
        grads = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads)
        optimizer.apply(grads)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y), tf.float32))
        return loss, correct

    @tf.function
    def train_step(iterator: Any) -> tuple[Any, Any]:
        loss, correct = strategy.run(step_fn, args=next(iterator))
        return (
            strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
            strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None),
        )

    def evaluate() -> tuple[float, float]:
        logits = model.logits(tf.constant(test_x))
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=test_y, logits=logits))
        accuracy = np.mean(np.argmax(logits.numpy(), axis=1) == test_y)
        return float(loss), float(accuracy)

    for epoch in range(1, args.epochs + 1):
        total_loss = total_correct = 0.0
        for _ in range(steps):
            loss, correct = train_step(batches)
            total_loss += float(loss)
            total_correct += float(correct)
        val_loss, val_accuracy = evaluate()
        print(
            f"epoch={epoch} loss={total_loss / steps:.4f} accuracy={total_correct / (steps * global_batch):.4f} "
            f"val_loss={val_loss:.4f} val_accuracy={val_accuracy:.4f}",
            flush=True,
        )
    val_loss, val_accuracy = evaluate()
    print(f"final val_accuracy={val_accuracy:.4f} val_loss={val_loss:.4f} workers={workers}", flush=True)
    if index == 0:
        print(f"chief: exported SavedModel to {export(model, args.sm_model_dir)}", flush=True)
    else:
        print(f"worker {index}: not the chief, no model exported (SageMaker uploads algo-1's)", flush=True)
    return {"val_accuracy": val_accuracy, "val_loss": val_loss}


def main(argv: list[str] | None = None) -> int:
    """Run the training; on an exception write ``<SM_OUTPUT_DIR>/failure`` and return 1."""
    try:
        train(parse_args(argv))
    except Exception as exc:
        details = traceback.format_exc()
        output = os.environ.get("SM_OUTPUT_DIR")
        if output:
            os.makedirs(output, exist_ok=True)
            with open(os.path.join(output, "failure"), "w") as fh:
                fh.write(f"{type(exc).__name__}: {exc}\n\n{details}")
        print(details, file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
