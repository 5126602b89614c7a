"""A typed view of the SageMaker training environment, for training scripts.

It imports neither Airflow, boto3 nor TensorFlow (only the package's standard-library word list of
booleans), so a training script can use it on SageMaker (install the package in the container, e.g. with
a ``requirements.txt``) and on the local backend alike.

Example:
    >>> env = TrainingEnvironment.from_env({
    ...     "SM_MODEL_DIR": "/opt/ml/model",
    ...     "SM_CHANNELS": '["training"]',
    ...     "SM_CHANNEL_TRAINING": "/opt/ml/input/data/training",
    ...     "SM_HPS": '{"epochs": 3, "use-bn": true}',
    ...     "SM_HOSTS": '["algo-1"]',
    ...     "SM_CURRENT_HOST": "algo-1",
    ... })
    >>> env.model_dir, env.channel("training")
    ('/opt/ml/model', '/opt/ml/input/data/training')
    >>> env.hyperparameter("epochs", type=int), env.hyperparameter("use-bn", type=bool)
    (3, True)
    >>> env.hyperparameter("batch_size", 32)
    32
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> _ = parser.add_argument("--use-bn", type=str2bool, default=False)
    >>> parser.parse_args(["--use-bn", "False"]).use_bn  # type=bool would say True here
    False
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_tf_sm.sagemaker.booleans import parse_bool

_MISSING: Any = object()
DEFAULT_BASE_DIR = "/opt/ml"


def str2bool(text: str) -> bool:
    """``argparse`` ``type=`` for boolean flags: ``parser.add_argument("--flag", type=str2bool)``.

    Raises:
        argparse.ArgumentTypeError: for text that is not a boolean (argparse shows it as a usage error).
    """
    try:
        return parse_bool(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _read_hyperparameters_file(path: Path) -> dict[str, Any]:
    """Read ``hyperparameters.json`` (JSON-string values), keeping the user's (non-``sagemaker_``) ones."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: _json_or_text(v) for k, v in raw.items() if not k.startswith("sagemaker_")}


@dataclass(frozen=True)
class TrainingEnvironment:
    """Where things are and what was asked, read from the ``SM_*`` environment of a training job.

    Attributes:
        model_dir: Save the model here (``SM_MODEL_DIR``); it becomes ``model.tar.gz``.
        output_data_dir: Other artifacts (``SM_OUTPUT_DATA_DIR``); they become ``output.tar.gz``.
        output_dir: Where ``success``/``failure`` go (``SM_OUTPUT_DIR``).
        input_dir: ``SM_INPUT_DIR``.
        input_config_dir: ``SM_INPUT_CONFIG_DIR`` (the config JSON files).
        output_intermediate_dir: ``SM_OUTPUT_INTERMEDIATE_DIR``.
        channels: Channel name -> local directory.
        hosts: All hosts, e.g. ``("algo-1", "algo-2")``.
        current_host: This host.
        num_gpus: GPUs on this host.
        num_cpus: CPUs on this host.
        job_name: The training job name (None outside a job).
        region: The job's region (None outside a job).
        hyperparameters: The user hyperparameters, JSON-decoded (``SM_HPS``).
    """

    model_dir: str
    output_data_dir: str
    output_dir: str
    input_dir: str
    input_config_dir: str
    output_intermediate_dir: str
    channels: Mapping[str, str] = field(default_factory=dict)
    hosts: tuple[str, ...] = ("algo-1",)
    current_host: str = "algo-1"
    num_gpus: int = 0
    num_cpus: int = 1
    job_name: str | None = None
    region: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TrainingEnvironment:
        """Build the view from an environment mapping (default: ``os.environ``).

        Missing variables fall back to the ``/opt/ml`` layout (or ``SAGEMAKER_BASE_DIR``), and the
        hyperparameters to ``input/config/hyperparameters.json`` when ``SM_HPS`` is absent.
        """
        env = os.environ if environ is None else environ
        base = Path(env.get("SAGEMAKER_BASE_DIR") or DEFAULT_BASE_DIR)

        def path(var: str, default: Path) -> str:
            return env.get(var) or str(default)

        input_config_dir = path("SM_INPUT_CONFIG_DIR", base / "input" / "config")
        names = _json_or_text(env.get("SM_CHANNELS", "[]"))
        names = names if isinstance(names, list) else []
        channels = {
            str(name): env.get(f"SM_CHANNEL_{str(name).upper()}") or str(base / "input" / "data" / str(name))
            for name in names
        }
        if "SM_HPS" in env:
            hps = _json_or_text(env["SM_HPS"])
            hyperparameters = hps if isinstance(hps, dict) else {}
        else:
            hyperparameters = _read_hyperparameters_file(Path(input_config_dir) / "hyperparameters.json")
        hosts = _json_or_text(env.get("SM_HOSTS", '["algo-1"]'))
        hosts = hosts if isinstance(hosts, list) and hosts else ["algo-1"]
        return cls(
            model_dir=path("SM_MODEL_DIR", base / "model"),
            output_data_dir=path("SM_OUTPUT_DATA_DIR", base / "output" / "data"),
            output_dir=path("SM_OUTPUT_DIR", base / "output"),
            input_dir=path("SM_INPUT_DIR", base / "input"),
            input_config_dir=input_config_dir,
            output_intermediate_dir=path("SM_OUTPUT_INTERMEDIATE_DIR", base / "output" / "intermediate"),
            channels=channels,
            hosts=tuple(str(h) for h in hosts),
            current_host=env.get("SM_CURRENT_HOST") or env.get("CURRENT_HOST") or str(hosts[0]),
            num_gpus=int(env.get("SM_NUM_GPUS") or 0),
            num_cpus=int(env.get("SM_NUM_CPUS") or os.cpu_count() or 1),
            job_name=env.get("TRAINING_JOB_NAME") or env.get("SAGEMAKER_JOB_NAME"),
            region=env.get("SAGEMAKER_REGION") or env.get("AWS_REGION"),
            hyperparameters=hyperparameters,
        )

    @property
    def is_master(self) -> bool:
        """Whether this host is the first one (the one whose model SageMaker keeps)."""
        return self.current_host == self.hosts[0]

    def channel(self, name: str) -> str:
        """Return the local directory of input channel ``name``.

        Raises:
            KeyError: naming the channels the job has.
        """
        try:
            return self.channels[name]
        except KeyError:
            known = ", ".join(sorted(self.channels)) or "none"
            raise KeyError(f"no input channel {name!r} (channels: {known})") from None

    def hyperparameter(self, name: str, default: Any = _MISSING, type: Callable[[Any], Any] | None = None) -> Any:
        """Return hyperparameter ``name``, converted with ``type`` when given.

        ``type=bool`` uses :func:`parse_bool`, so ``"False"`` is false.

        Raises:
            KeyError: when the hyperparameter is missing and no default is given.
            ValueError: when the value cannot be converted.
        """
        if name in self.hyperparameters:
            value = self.hyperparameters[name]
        elif default is not _MISSING:
            return default
        else:
            raise KeyError(f"no hyperparameter {name!r} (given: {', '.join(sorted(self.hyperparameters))})")
        if type is None:
            return value
        if type is bool:
            return parse_bool(value)
        return type(value)
