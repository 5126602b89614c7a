"""The real SageMaker training toolkit as a test oracle for the local backend's container contract.

``oracle(base, env)`` runs, in a throwaway venv holding the real ``sagemaker-training`` (toolkit 5.x) and
the TensorFlow container's framework module (``sagemaker-tensorflow-training``, the program behind the
image's ``SAGEMAKER_TRAINING_MODULE=sagemaker_tensorflow_container.training:main``), exactly what the
TensorFlow training image runs at start-up, on one host's ``opt_ml`` directory. Instead of launching the
user script it records what the script would get: the process environment, the command and the cwd.

What the oracle patches (everything else is the packages' own code):

* ``tensorflow``: an empty stub module. The framework module imports TensorFlow at the top but uses it
  only to start the parameter-server process (``_run_ps``), which is recorded instead of run.
* ``sagemaker_training.files.download_and_extract``: the runner under test already unpacked the code
  into ``<base>/code``; nothing is downloaded.
* ``sagemaker_training.entry_point._wait_hostname_resolution``: ``algo-N`` do not resolve on this
  machine (the toolkit would retry for 15 minutes).
* ``sagemaker_tensorflow_container.s3_utils._s3_region``: an ``s3://`` model_dir would make it call S3
  ``GetBucketLocation``; the local store's buckets live in the job's region, so it returns that region.
* ``sagemaker_tensorflow_container.training._wait_until_master_is_down``: a parameter-server worker
  would poll the master with curl until it is gone.
* ``sagemaker_training.modules.install_requirements`` / ``modules.install``: recorded, not run.
* ``sagemaker_training.process.check_error`` / ``process.create``: record ``cmd``, ``cwd`` and
  ``os.environ`` (the toolkit passes ``env=os.environ``) and return without starting anything.

The toolkit also does things at import and instantiation that the oracle's process environment
takes care of: ``import sagemaker_training.environment`` creates ``~/sagemaker_local/jobs/<ts>/opt/ml``
unless ``/opt/ml`` exists or ``SAGEMAKER_BASE_DIR`` is set (it is always set here), and creates
``<base>/code``; every ``Environment()`` runs ``nvidia-smi --list-gpus``, ``neuron-ls -j`` and
``which smddprun`` / ``which smddpmprun`` (absent commands count 0 / False), calls
``boto3.session.Session().region_name`` (evaluated even when ``sagemaker_region`` is given: AWS_*
variables are dropped and the AWS config files point at /dev/null so it is deterministic), and writes
``SAGEMAKER_JOB_NAME``, ``CURRENT_HOST`` and ``SAGEMAKER_REGION`` into ``os.environ``.

The venv is built once per (toolkit version, framework version, Python minor version) under
:func:`cache_dir` and reused; set ``AIRFLOW_TF_SM_TOOLKIT_VENV`` to use another directory.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Newest 5.x on PyPI when written. The framework package pins sagemaker-training<=4.8.3 in its metadata
# (the DLC build's choice); it is installed --no-deps on top of 5.x: its training.py uses only
# Environment attributes that 5.x has.
TOOLKIT_VERSION = "5.1.4"
FRAMEWORK_VERSION = "20.5.0"
FRAMEWORK_MODULE = "sagemaker_tensorflow_container.training:main"
_COMPLETE = ".complete"
# process variables of the oracle run that are plumbing, not contract
PLUMBING = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"})

_ORACLE_SCRIPT = r"""
import json, os, sys, types

out_path = sys.argv[1]
before = dict(os.environ)
result = {"before": before, "calls": {}}

sys.modules["tensorflow"] = types.ModuleType("tensorflow")  # see toolkit_oracle.py

import sagemaker_training
from importlib.metadata import version
from sagemaker_training import entry_point, environment, files, mapping, modules, process

result["versions"] = {"sagemaker-training": version("sagemaker-training"),
                      "sagemaker-tensorflow-training": version("sagemaker-tensorflow-training")}
result["python"] = sys.executable

# 1. the toolkit alone: Environment().to_env_vars() and the CLI arguments of its hyperparameters
env = environment.Environment()
result["toolkit_env_vars"] = env.to_env_vars()
result["toolkit_cmd_args"] = env.to_cmd_args()
os.environ.clear()
os.environ.update(before)

# 2. what the TensorFlow image runs: sagemaker_tensorflow_container.training:main
from sagemaker_tensorflow_container import s3_utils, training

calls = result["calls"]
def record(name):
    def fake(*args, **kwargs):
        calls.setdefault(name, []).append({"args": [repr(a) for a in args],
                                           "kwargs": {k: repr(v) for k, v in kwargs.items()}})
    return fake

launches = []
def fake_launch(cmd, error_classes, processes_per_host, cwd=None, *args, **kwargs):
    launches.append({"cmd": list(cmd), "cwd": cwd, "environ": dict(os.environ),
                     "processes_per_host": processes_per_host})
    return None
def fake_create(cmd, error_classes, processes_per_host, cwd=None, env=None, *args, **kwargs):
    fake_launch(cmd, error_classes, processes_per_host, cwd)
    return 0, ["", ""], None

files.download_and_extract = record("download_and_extract")
entry_point._wait_hostname_resolution = record("wait_hostname_resolution")
modules.install_requirements = record("install_requirements")
modules.install = record("install_package")
process.check_error = fake_launch
process.create = fake_create
training._run_ps = record("run_ps")
training._wait_until_master_is_down = record("wait_until_master_is_down")
def s3_region(job_region, model_dir):
    calls.setdefault("s3_region", []).append([job_region, model_dir])
    return job_region
s3_utils._s3_region = s3_region

try:
    training.main()
except BaseException as exc:  # report, do not hide
    import traceback
    result["error"] = traceback.format_exc()
result["launches"] = launches
with open(out_path, "w") as fh:
    json.dump(result, fh)
"""


class ToolkitUnavailable(RuntimeError):
    """The oracle venv cannot be built here (no uv)."""


def cache_dir() -> Path:
    """Return where oracle venvs live: ``$XDG_CACHE_HOME/airflow_tf_sm`` (default ``~/.cache/airflow_tf_sm``).

    A user cache rather than the repository: one venv serves every worktree and checkout, survives
    ``git clean -xdf``, sits next to uv's own cache (``~/.cache/uv``), and a CI cache step can restore it by
    path with the key :func:`venv_dir` ends in. Venvs hold absolute paths, so it must be restored at the
    same path (true for ``~/.cache`` on a CI runner).
    """
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "airflow_tf_sm"


def venv_dir() -> Path:
    """Return the oracle venv of the pinned versions and this Python."""
    explicit = os.environ.get("AIRFLOW_TF_SM_TOOLKIT_VENV")
    if explicit:
        return Path(explicit)
    py = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return cache_dir() / f"toolkit-venv-{TOOLKIT_VERSION}-tf{FRAMEWORK_VERSION}-{py}"


def _uv() -> list[str]:
    if os.environ.get("UV"):
        return [os.environ["UV"]]
    found = shutil.which("uv")
    if found:
        return [found]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    for python in ("python3", sys.executable):
        try:
            subprocess.run([python, "-m", "uv", "--version"], capture_output=True, check=True, timeout=30)
            return [python, "-m", "uv"]
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
            continue
    raise ToolkitUnavailable("uv is not installed (python3 -m pip install uv)")


def _base_python() -> str:
    """Return the interpreter the project venv was made from (a venv of a venv is not wanted).

    Symlinks are resolved: on Python 3.10 ``sys._base_executable`` of a uv venv is the venv's own ``python``,
    and a venv built from it breaks when that venv goes.
    """
    return str(Path(getattr(sys, "_base_executable", None) or sys.executable).resolve())


def ensure_venv() -> tuple[Path, float]:
    """Build the oracle venv unless it is complete; return (its python, seconds spent building, 0 if cached).

    A file lock serialises concurrent builders (parallel test workers); a venv without the completion
    marker (an interrupted build) is removed and built again.
    """
    target = venv_dir()
    python = target / "bin" / "python"
    if (target / _COMPLETE).is_file() and python.exists():  # exists() follows the symlink to its interpreter
        return python, 0.0
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / _COMPLETE).is_file() and python.exists():
            return python, 0.0
        uv = _uv()
        start = time.monotonic()
        shutil.rmtree(target, ignore_errors=True)
        steps = [
            [*uv, "venv", "--quiet", "--python", _base_python(), str(target)],
            [*uv, "pip", "install", "--quiet", "--python", str(python), f"sagemaker-training=={TOOLKIT_VERSION}"],
            [
                *uv,
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--python",
                str(python),
                f"sagemaker-tensorflow-training=={FRAMEWORK_VERSION}",
            ],
        ]
        for cmd in steps:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        (target / _COMPLETE).write_text(json.dumps({"built_seconds": round(time.monotonic() - start, 2)}))
        return python, time.monotonic() - start


def platform_env(*, job_name: str, base: Path, environment: dict[str, str] | None = None) -> dict[str, str]:
    """Return the process environment SageMaker and the TF training image give the container before the toolkit.

    ``SAGEMAKER_BASE_DIR`` stands for ``/opt/ml``; ``TRAINING_JOB_NAME`` is set by the platform;
    ``SAGEMAKER_TRAINING_MODULE`` by the image; the request's ``Environment`` by the platform.
    """
    return {
        "SAGEMAKER_BASE_DIR": str(base),
        "TRAINING_JOB_NAME": job_name,
        "SAGEMAKER_TRAINING_MODULE": FRAMEWORK_MODULE,
        **(environment or {}),
    }


def oracle(base: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run the toolkit on one host's ``opt_ml`` directory ``base`` with process environment ``env``.

    Returns a dict: ``before`` (the oracle's process environment), ``environ`` / ``cmd`` / ``cwd`` (what the
    user script would be started with), ``changed`` (variables the toolkit set or changed),
    ``toolkit_env_vars`` / ``toolkit_cmd_args`` (``Environment().to_env_vars()`` and ``to_cmd_args()``
    alone), ``calls`` (the patched side effects), ``versions``.
    """
    python, _ = ensure_venv()
    process_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **env,
    }
    with tempfile.TemporaryDirectory(prefix="toolkit_oracle_") as tmp:
        script = Path(tmp) / "oracle.py"
        script.write_text(_ORACLE_SCRIPT)
        out = Path(tmp) / "out.json"
        done = subprocess.run(
            [str(python), str(script), str(out)],
            env=process_env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0 or not out.is_file():
            raise RuntimeError(f"oracle failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        result: dict[str, Any] = json.loads(out.read_text())
    result["stderr"] = done.stderr
    if result.get("error"):
        raise RuntimeError(f"the toolkit raised:\n{result['error']}\n{done.stderr}")
    if len(result["launches"]) != 1:
        raise RuntimeError(f"expected one launch, got {len(result['launches'])}: {result['calls']}")
    launch = result["launches"][0]
    result.update(environ=launch["environ"], cmd=launch["cmd"], cwd=launch["cwd"])
    before = result["before"]
    result["changed"] = {k: v for k, v in launch["environ"].items() if before.get(k) != v}
    result["removed"] = sorted(set(before) - set(launch["environ"]))
    return result


def script_argv(cmd: list[str]) -> list[str]:
    """Return the ``sys.argv`` a Python script started with ``cmd`` sees (``python [--] script args``)."""
    rest = cmd[1:]
    return rest[1:] if rest[:1] == ["--"] else rest
