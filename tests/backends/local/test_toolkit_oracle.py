"""The real SageMaker training toolkit cannot tell our local container from its own.

Each case runs a real local job whose script dumps ``os.environ``, ``sys.argv`` and its cwd, then runs the
toolkit oracle (``toolkit_oracle.py``: sagemaker-training 5.x + the TF image's framework module) on every
host's ``opt_ml`` directory and compares item by item. Not compared: the GPU/CPU/Neuron counts (this
machine decides them, not the contract), ``PYTHONPATH`` past its first entry (the interpreter's own
``sys.path``), and in ``TF_CONFIG`` the addresses: local hosts are processes on one machine, so
``algo-N:port`` becomes ``127.0.0.1:<free port>``; the test checks the structure and that one toolkit
address maps to one local address on every host.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import toolkit_oracle
from local_helpers import BUCKET, make_request, stage_code, wait_for_status

from airflow_tf_sm.backends.local.engine import Engine

pytestmark = pytest.mark.toolkit

# writes next to the code dir, so a wrong SM_* value cannot hide the dump
DUMP = """
    import json, os, sys
    out = os.path.join(os.getcwd(), os.pardir, "output", "data", "contract-dump.json")
    with open(out, "w") as fh:
        json.dump({"env": dict(os.environ), "argv": sys.argv, "cwd": os.getcwd()}, fh)
"""
COUNTS = ("SM_NUM_GPUS", "SM_NUM_CPUS", "SM_NUM_NEURONS")
TRAINING_ENV_COUNTS = ("num_gpus", "num_cpus", "num_neurons")
# variables of ours that belong to the contract even when the toolkit has none of that name
CONTRACT_PREFIXES = ("SM_", "SAGEMAKER_", "S3_", "TF_CONFIG", "CURRENT_HOST", "TRAINING_JOB_")

TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def toolkit_python() -> Path:
    """The oracle venv, built here when missing (CI starts from a clean machine: there it must not skip)."""
    try:
        python, seconds = toolkit_oracle.ensure_venv()
    except toolkit_oracle.ToolkitUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    TIMINGS["venv_build_s"] = seconds
    return python


def _hyperparameters() -> dict[str, Any]:
    return {
        "epochs": 3,
        "learning-rate": 0.01,
        "use-bn": True,
        "dropout": False,
        "optimizer": "adam",
        "layers": {"b": "x", "a": 1},
        "x": 5,
        "model_dir": f"s3://{BUCKET}/output/model",
    }


def _case_request(case: str, code: str) -> dict[str, Any]:
    channels = {"training": f"s3://{BUCKET}/data/train", "eval": f"s3://{BUCKET}/data/eval/"}
    name = f"oracle-{case}"
    if case == "plain":
        request = make_request(
            name,
            code,
            hyperparameters=_hyperparameters(),
            channels=channels,
            environment={"MY_SETTING": "on", "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        request["HyperParameters"]["not-json"] = "plain text"
        return request
    if case == "tuned":
        # a tuning job's training job; SAGEMAKER_PROGRAM in the Environment wins over sagemaker_program
        hps = {**_hyperparameters(), "_tuning_objective_metric": "loss", "sagemaker_custom_flag": 7}
        return make_request(
            name, code, hyperparameters=hps, channels=channels, environment={"SAGEMAKER_PROGRAM": "main.py"}
        )
    if case == "flag-text":
        # a flag sent as the JSON string "False" (not the SDK's false): the toolkit tests it by Python truth
        return make_request(
            name,
            code,
            hyperparameters={"epochs": 1},
            instance_count=2,
            distribution={"sagemaker_multi_worker_mirrored_strategy_enabled": "False"},
        )
    if case == "gpu":
        request = make_request(name, code, hyperparameters={"epochs": 1}, instance_count=2)
        request["ResourceConfig"]["InstanceType"] = "ml.g5.xlarge"
        return request
    if case == "mwms":
        return make_request(
            name,
            code,
            hyperparameters={"epochs": 1, "b": True},
            channels=channels,
            instance_count=2,
            distribution={"sagemaker_multi_worker_mirrored_strategy_enabled": True},
        )
    if case == "ps":
        return make_request(
            name,
            code,
            hyperparameters={"epochs": 1},
            channels=channels,
            instance_count=2,
            distribution={"sagemaker_parameter_server_enabled": True},
        )
    if case == "hetero":
        request = make_request(
            name,
            code,
            hyperparameters={"epochs": 1},
            channels=channels,
            distribution={
                "sagemaker_multi_worker_mirrored_strategy_enabled": True,
                "sagemaker_distribution_instance_groups": ["workers"],
            },
        )
        request["ResourceConfig"] = {
            "InstanceGroups": [
                {"InstanceGroupName": "chief", "InstanceType": "ml.m5.large", "InstanceCount": 1},
                {"InstanceGroupName": "workers", "InstanceType": "ml.c5.xlarge", "InstanceCount": 2},
            ],
            "VolumeSizeInGB": 30,
        }
        return request
    raise AssertionError(case)


HOSTS = {"plain": 1, "tuned": 1, "mwms": 2, "ps": 2, "hetero": 3, "flag-text": 2, "gpu": 2}
#: ``nvidia-smi`` of a machine with two GPUs (the toolkit runs ``--list-gpus``, the runner ``-L``: the same)
FAKE_NVIDIA_SMI = """#!/bin/sh
case "$1" in
  -L|--list-gpus) echo "GPU 0: Tesla T4 (UUID: GPU-0a1b)"; echo "GPU 1: Tesla T4 (UUID: GPU-2c3d)" ;;
  *) exit 9 ;;
esac
"""


def _masked_training_env(text: str | None) -> Any:
    if text is None:
        return None
    value = json.loads(text)
    for key in TRAINING_ENV_COUNTS:
        value.pop(key, None)
    return value


def _dict_diff(ours: Any, theirs: Any) -> str:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        parts = []
        for key in sorted(set(ours) | set(theirs)):
            if ours.get(key, "<absent>") != theirs.get(key, "<absent>"):
                parts.append(f"{key}: {ours.get(key, '<absent>')!r} vs {theirs.get(key, '<absent>')!r}")
        return "; ".join(parts) or "same content, different text (key order or separators)"
    return f"{ours!r} vs {theirs!r}"


def compare_env(ours: dict[str, str], oracle: dict[str, Any]) -> list[str]:
    """Return one line per differing item: ``KEY: ours vs toolkit``."""
    theirs: dict[str, str] = oracle["environ"]
    keys = set(oracle["changed"]) | set(oracle["removed"])
    keys |= {k for k in oracle["before"] if k not in toolkit_oracle.PLUMBING}
    keys |= {k for k in ours if k.startswith(CONTRACT_PREFIXES)}
    keys -= {"PYTHONPATH", "TF_CONFIG", *COUNTS}
    diffs = []
    for key in sorted(keys):
        a, b = ours.get(key), theirs.get(key)
        if key == "SM_TRAINING_ENV":
            if a is None or b is None or _masked_training_env(a) != _masked_training_env(b):
                diffs.append(f"{key}: {_dict_diff(_masked_training_env(a), _masked_training_env(b))}")
            elif json.dumps(json.loads(a), separators=(",", ":"), sort_keys=True) != a:
                diffs.append(f"{key}: not compact sorted JSON")
            continue
        if a != b:
            detail = f"{a!r} vs {b!r}"
            try:
                parsed = json.loads(a or "null"), json.loads(b or "null")
            except ValueError:
                parsed = None, None
            if all(isinstance(p, dict) for p in parsed):
                detail = _dict_diff(*parsed)
            diffs.append(f"{key}: {detail}")
    for key in COUNTS:
        if (key in ours) != (key in theirs):
            diffs.append(f"{key}: {ours.get(key)!r} vs {theirs.get(key)!r}")
    ours_path = ours.get("PYTHONPATH", "").split(":")[0]
    theirs_path = theirs.get("PYTHONPATH", "").split(":")[0]
    if ours_path != theirs_path:
        diffs.append(f"PYTHONPATH[0]: {ours_path!r} vs {theirs_path!r}")
    return diffs


def compare_tf_config(pairs: dict[str, tuple[str | None, str | None]]) -> list[str]:
    """Compare TF_CONFIG per host up to addresses, with one local address per toolkit address across hosts."""
    diffs: list[str] = []
    mapping: dict[str, str] = {}
    for host, (ours_text, theirs_text) in sorted(pairs.items()):
        if ours_text is None or theirs_text is None:
            if ours_text != theirs_text:
                diffs.append(f"TF_CONFIG@{host}: {ours_text!r} vs {theirs_text!r}")
            continue
        ours, theirs = json.loads(ours_text), json.loads(theirs_text)
        if set(ours.get("cluster", {})) != set(theirs.get("cluster", {})):
            diffs.append(f"TF_CONFIG@{host}: cluster roles {sorted(ours['cluster'])} vs {sorted(theirs['cluster'])}")
            continue
        substituted = json.loads(theirs_text)
        for role, addresses in theirs["cluster"].items():
            local = ours["cluster"][role]
            if len(local) != len(addresses):
                diffs.append(f"TF_CONFIG@{host}: {role} {local} vs {addresses}")
                continue
            for theirs_addr, ours_addr in zip(addresses, local, strict=True):
                if mapping.setdefault(theirs_addr, ours_addr) != ours_addr:
                    diffs.append(f"TF_CONFIG@{host}: {theirs_addr} is {ours_addr} here, {mapping[theirs_addr]} before")
            substituted["cluster"][role] = local
        if json.dumps(substituted) != ours_text:
            diffs.append(f"TF_CONFIG@{host}: {ours_text} vs {json.dumps(substituted)} (toolkit: {theirs_text})")
    if len(set(mapping.values())) != len(mapping):
        diffs.append(f"TF_CONFIG: two toolkit addresses share a local address: {mapping}")
    return diffs


@pytest.mark.parametrize("case", list(HOSTS))
def test_toolkit_sees_the_same_container(
    case: str,
    toolkit_python: Path,
    clients: tuple[Any, Any, Any],
    local_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sm, s3, _ = clients
    if case == "gpu":  # the runner, the scripts and the oracle all find this nvidia-smi first on PATH
        fake = tmp_path / "bin" / "nvidia-smi"
        fake.parent.mkdir()
        fake.write_text(FAKE_NVIDIA_SMI)
        fake.chmod(0o755)
        monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    s3.put_object(Bucket=BUCKET, Key="data/train/part-0.csv", Body=b"1,2\n")
    s3.put_object(Bucket=BUCKET, Key="data/eval/part-0.csv", Body=b"3,4\n")
    code = stage_code(s3, {"train.py": DUMP, "main.py": DUMP})
    request = _case_request(case, code)
    name = request["TrainingJobName"]
    start = time.monotonic()
    sm.create_training_job(**request)
    desc = wait_for_status(sm, name, timeout=60)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    engine = Engine(local_root)
    hosts = [f"algo-{i}" for i in range(1, HOSTS[case] + 1)]
    bases = {host: engine.opt_ml(name, host) for host in hosts}
    dumps = {
        host: json.loads((base / "output" / "data" / "contract-dump.json").read_text()) for host, base in bases.items()
    }

    def run_oracle(host: str) -> dict[str, Any]:
        env = toolkit_oracle.platform_env(job_name=name, base=bases[host], environment=request.get("Environment"))
        return toolkit_oracle.oracle(bases[host], env)

    oracle_start = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        oracles = dict(zip(hosts, pool.map(run_oracle, hosts), strict=True))
    TIMINGS[f"{case}_oracle_s"] = time.monotonic() - oracle_start
    TIMINGS[f"{case}_total_s"] = time.monotonic() - start

    diffs: list[str] = []
    for host in hosts:
        ours, theirs = dumps[host], oracles[host]
        assert theirs["versions"]["sagemaker-training"] == toolkit_oracle.TOOLKIT_VERSION
        diffs += [f"{host} {line}" for line in compare_env(ours["env"], theirs)]
        expected_argv = toolkit_oracle.script_argv(theirs["cmd"])
        if ours["argv"] != expected_argv:
            diffs.append(f"{host} argv: {ours['argv']} vs {expected_argv}")
        if Path(ours["cwd"]).resolve() != Path(theirs["cwd"]).resolve():
            diffs.append(f"{host} cwd: {ours['cwd']} vs {theirs['cwd']}")
        # the toolkit alone agrees with what its framework module handed the script
        for key, value in theirs["toolkit_env_vars"].items():
            if key not in COUNTS and key != "SM_TRAINING_ENV" and key not in ("SM_HPS", "SM_USER_ARGS"):
                if not key.startswith("SM_HP_") and theirs["environ"].get(key) != value:
                    diffs.append(f"{host} (toolkit vs framework) {key}: {value!r} vs {theirs['environ'].get(key)!r}")
    diffs += compare_tf_config(
        {host: (dumps[host]["env"].get("TF_CONFIG"), oracles[host]["environ"].get("TF_CONFIG")) for host in hosts}
    )
    if case == "gpu":  # here the machine is the same for both: the counts must agree too
        for host in hosts:
            ours_env, theirs_env = dumps[host]["env"], oracles[host]["environ"]
            assert ours_env["SM_NUM_GPUS"] == theirs_env["SM_NUM_GPUS"] == "2"
            ours_training = json.loads(ours_env["SM_TRAINING_ENV"])
            assert ours_training["num_gpus"] == json.loads(theirs_env["SM_TRAINING_ENV"])["num_gpus"] == 2
    if case == "tuned":
        assert dumps["algo-1"]["argv"][0] == "main.py"
    if case == "flag-text":
        assert "TF_CONFIG" in oracles["algo-1"]["environ"]
    assert not diffs, f"{case}: {len(diffs)} item(s) differ (ours vs toolkit):\n" + "\n".join(diffs)


def test_report_timings(toolkit_python: Path) -> None:
    """Print the venv build time and the per-case wall times (pytest -s shows them)."""
    print("\ntoolkit oracle timings:", json.dumps({k: round(v, 2) for k, v in TIMINGS.items()}))


def test_the_comparison_is_not_vacuous() -> None:
    """compare_env / compare_tf_config report a changed value, a missing item, an extra item and a bad address map."""
    oracle = {
        "before": {"PATH": "/bin", "TRAINING_JOB_NAME": "j"},
        "environ": {"PATH": "/bin", "TRAINING_JOB_NAME": "j", "SM_HOSTS": '["algo-1"]', "SM_IS_HETERO": "false"},
        "changed": {"SM_HOSTS": '["algo-1"]', "SM_IS_HETERO": "false"},
        "removed": [],
    }
    ours = {"PATH": "/other", "TRAINING_JOB_NAME": "j", "SM_HOSTS": '["algo-2"]', "SM_EXTRA": "1"}
    diffs = compare_env(ours, oracle)
    assert [line.split(":")[0] for line in diffs] == ["SM_EXTRA", "SM_HOSTS", "SM_IS_HETERO"]
    tf = '{"cluster": {"worker": ["%s", "%s"]}, "environment": "cloud", "task": {"index": %d, "type": "worker"}}'
    pairs = {
        "algo-1": (tf % ("127.0.0.1:1", "127.0.0.1:2", 0), tf % ("algo-1:8890", "algo-2:8890", 0)),
        "algo-2": (tf % ("127.0.0.1:2", "127.0.0.1:1", 1), tf % ("algo-1:8890", "algo-2:8890", 1)),
    }
    assert compare_tf_config(pairs)
    pairs["algo-2"] = (tf % ("127.0.0.1:1", "127.0.0.1:2", 1), pairs["algo-2"][1])
    assert compare_tf_config(pairs) == []
