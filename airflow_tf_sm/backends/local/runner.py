"""Runs one local training job under the SageMaker training-container contract.

Started by ``LocalSageMakerClient.create_training_job`` as a detached process::

    python -m airflow_tf_sm.backends.local.runner --root ROOT --job NAME --detach

It builds the job's ``/opt/ml``-shaped directory (config JSON files, channel data, code, checkpoints),
runs the entry point with the ``SM_*`` environment and CLI arguments of the SageMaker toolkit, streams
its output to the job's log streams, and moves the job through Starting -> Downloading -> Training ->
Uploading -> Completed (or Failed / Stopping -> Stopped), writing every step to ``job.json``.
It imports only the standard library, sibling modules and the package's standard-library facts, never
Airflow, boto3 or TensorFlow.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from airflow_tf_sm.backends.local.container import (
    MWMS_PORT,
    PS_PORT,
    PS_WORKER_PORT,
    container_environment,
    decode_hyperparameters,
    failure_reason_for_exit,
    framework_tf_config,
    image_tf_version,
    input_data_config,
    instance_groups,
    local_tf_version,
    parameter_server_command,
    resource_config,
    script_hyperparameters,
    to_cmd_args,
    uses_tensorflow,
)
from airflow_tf_sm.backends.local.devices import gpu_count
from airflow_tf_sm.backends.local.engine import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Engine,
    add_transition,
    finish_job,
)
from airflow_tf_sm.backends.local.jobfiles import (
    JobError,
    place_channels,
    restore_checkpoints,
    upload_tar,
    upload_tree,
)
from airflow_tf_sm.backends.local.logstore import LogStore, StreamWriter
from airflow_tf_sm.backends.local.metrics import final_metrics, metric_budget
from airflow_tf_sm.backends.local.processes import detach_and_record, free_ports, own_record, process_token
from airflow_tf_sm.backends.local.requirements import RequirementsError, install_requirements
from airflow_tf_sm.backends.local.store import InvalidKeyError, LocalObjectStore
from airflow_tf_sm.redaction import redact_argv
from airflow_tf_sm.sagemaker.booleans import is_true
from airflow_tf_sm.sagemaker.images import processor_for
from airflow_tf_sm.sagemaker.resources import TRAINING_LOG_GROUP as LOG_GROUP

HEARTBEAT_SECONDS = 2.0
POLL_SECONDS = 0.1
_TAIL_LINES = 10
#: stderr lines kept per host for the FailureReason (a traceback fits).
_STDERR_LINES = 60
# the parent environment a container-like process keeps (the request's Environment comes on top)
_KEPT_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TERM",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CUDA_VISIBLE_DEVICES",
)


@dataclass
class HostPlan:
    """Everything one host process needs.

    Attributes:
        host: ``algo-<n>``.
        index: 0-based host index.
        base: The host's ``/opt/ml`` directory.
        env: The process environment.
        argv: The command line.
        sidecars: Command lines started before ``argv`` and stopped after it ends (parameter servers).
    """

    host: str
    index: int
    base: Path
    env: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    sidecars: list[list[str]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------------------------
@dataclass
class _Proc:
    plan: HostPlan
    popen: subprocess.Popen[bytes]
    writer: StreamWriter
    stderr_tail: collections.deque[str]
    threads: list[threading.Thread]


class Runner:
    """Drives one job from Starting to a terminal status.

    Args:
        engine: The engine of the local root.
        name: The training job name.
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.store = LocalObjectStore(engine.root)
        self.logs = LogStore(engine.root)
        state = engine.load(name)
        self.request: dict[str, Any] = state["request"]
        self.region: str = state["region"]
        self.grace = float(state.get("settings", {}).get("stop_grace", 5.0))
        self.groups = instance_groups(self.request.get("ResourceConfig", {}))
        self.hosts = [host for group in self.groups for host in group["hosts"]] or ["algo-1"]
        self.streams: dict[str, StreamWriter] = {}
        self._stop_signal = threading.Event()
        self._done = threading.Event()
        self.stream_epoch = int(time.time())

    # -- bookkeeping ---------------------------------------------------------------------------
    def _update(self, mutate: Any) -> dict[str, Any]:
        return self.engine.update(self.name, mutate)

    def _stream(self, host: str) -> StreamWriter:
        if host not in self.streams:
            stream_name = f"{self.name}/{host}-{self.stream_epoch}"
            self.streams[host] = StreamWriter(self.logs.create_stream(LOG_GROUP, stream_name))

            def record(state: dict[str, Any]) -> None:
                state.setdefault("log_streams", []).append(stream_name)

            self._update(record)
        return self.streams[host]

    def log(self, message: str, host: str = "algo-1") -> None:
        """Write a runner message to a host's log stream."""
        for line in message.splitlines() or [""]:
            self._stream(host).write(line)

    def _secondary(self, status: str) -> bool:
        """Move to SecondaryStatus ``status`` unless the job was stopped; return whether it moved."""
        moved = False

        def mutate(state: dict[str, Any]) -> None:
            nonlocal moved
            if state["status"] == "InProgress":
                now = time.time()
                if status == "Downloading":
                    state["training_start_time"] = now
                add_transition(state, status, now)
                moved = True

        self._update(mutate)
        return moved

    def stop_requested(self) -> bool:
        """Return whether someone asked the job to stop (stop_training_job or SIGTERM to the runner)."""
        if self._stop_signal.is_set():
            return True
        return self.engine.load(self.name)["status"] == "Stopping"

    def _heartbeat_loop(self) -> None:
        while not self._done.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(OSError):
                self.engine.touch_heartbeat(self.name)

    # -- phases --------------------------------------------------------------------------------
    def run(self) -> None:
        """Run the job to its end; never raises."""
        signal.signal(signal.SIGTERM, lambda *_: self._stop_signal.set())
        beat = threading.Thread(target=self._heartbeat_loop, daemon=True)
        beat.start()
        plans: list[HostPlan] = []
        try:
            self.log(f"Starting local training job {self.name} on hosts {', '.join(self.hosts)}")
            if self._secondary("Downloading"):
                plans = self.prepare()
            if plans and not self.stop_requested() and self._secondary("Training"):
                self.train(plans)
            else:
                self.end_stopped(plans, max_runtime=False)
        except JobError as exc:
            self.log(f"ERROR: {exc.reason}")
            self.end_failed(exc.reason, plans)
        except Exception as exc:  # an error of the local backend itself
            self.log(traceback.format_exc())
            self.end_failed(f"InternalServerError: local backend error: {exc!r}", plans)
        finally:
            self._done.set()
            for writer in self.streams.values():
                writer.close()

    def prepare(self) -> list[HostPlan]:
        """Build every host's ``/opt/ml``: configs, channels, code, checkpoints; return the host plans."""
        req = self.request
        channels = input_data_config(req)
        raw_hps: dict[str, str] = dict(req.get("HyperParameters") or {})
        _user, framework = decode_hyperparameters(raw_hps)
        instance_type = req.get("ResourceConfig", {}).get("InstanceType", "ml.m5.large")
        environment = {str(k): str(v) for k, v in (req.get("Environment") or {}).items()}
        # the toolkit's user_entry_point: SAGEMAKER_PROGRAM in the process environment, else the hyperparameter
        program = environment.get("SAGEMAKER_PROGRAM") or framework.get("sagemaker_program")
        if not program:
            raise JobError("AlgorithmError: the sagemaker_program hyperparameter (entry point) is missing")
        python = environment.get("AIRFLOW_TF_SM_LOCAL_PYTHON") or sys.executable
        gpus = self._check_gpus(environment)
        # every (host, TF_CONFIG port) gets a local port of its own: the hosts are processes on one machine
        wanted = [(host, port) for host in self.hosts for port in (PS_WORKER_PORT, PS_PORT, MWMS_PORT)]
        local_ports = dict(zip(wanted, free_ports(len(wanted)), strict=True))
        args = to_cmd_args(script_hyperparameters(raw_hps, self.name))
        plans: list[HostPlan] = []
        for index, host in enumerate(self.hosts):
            base = self.engine.opt_ml(self.name, host)
            self._make_dirs(base)
            config_dir = base / "input" / "config"
            resources = resource_config(host, self.hosts, instance_type, self.groups)
            (config_dir / "hyperparameters.json").write_text(json.dumps(raw_hps))
            (config_dir / "resourceconfig.json").write_text(json.dumps(resources))
            (config_dir / "inputdataconfig.json").write_text(json.dumps(channels))
            self._place_channels(base, index)
            self._unpack_code(base / "code", framework.get("sagemaker_submit_directory"))
            if index == 0:
                self._check_tf_version(base / "code")
            # the image's environment < the request's Environment (the platform) < the toolkit's start-up
            env = {**self._base_env(), "PYTHONUNBUFFERED": "1", **environment}
            env.update(
                container_environment(
                    job_name=self.name,
                    region=self.region,
                    base=base,
                    current_host=host,
                    hosts=self.hosts,
                    instance_type=instance_type,
                    raw_hyperparameters=raw_hps,
                    channels=channels,
                    groups=self.groups,
                    environment=environment,
                    num_gpus=gpus,
                )
            )
            config = framework_tf_config(raw_hps, resources, lambda h, p: f"127.0.0.1:{local_ports[(h, p)]}")
            sidecars: list[list[str]] = []
            if config is not None:
                env["TF_CONFIG"] = config
                sidecars = [c for c in [parameter_server_command(python, config, self.hosts, host)] if c]
            elif len(self.hosts) > 1:
                self.log(f"{host}: not in a distribution instance group: it trains on its own", host)
            packages = self._install_requirements(base, python, env)
            # the toolkit exports its sys.path, the code directory first
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(base / "code"), packages, env.get("PYTHONPATH")) if p)
            argv = [python, "--", str(program), *args]
            plans.append(HostPlan(host=host, index=index, base=base, env=env, argv=argv, sidecars=sidecars))
        self._restore_checkpoints(plans)
        return plans

    def train(self, plans: list[HostPlan]) -> None:
        """Run the host processes, enforce MaxRuntimeInSeconds and stops, then end the job."""
        state = self.engine.load(self.name)
        max_runtime = float(self.request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86400))
        deadline = float(state.get("training_start_time") or time.time()) + max_runtime
        sidecars = [self._spawn(plan, argv) for plan in plans for argv in plan.sidecars]
        procs = [self._spawn(plan) for plan in plans]
        records = [self._proc_record(p) for p in (*procs, *sidecars)]
        self._update(lambda s: s.__setitem__("processes", records))
        stopped = max_runtime_hit = False
        failed: _Proc | None = None
        next_check = 0.0
        while True:
            running = [p for p in procs if p.popen.poll() is None]
            failed = next((p for p in procs if p.popen.returncode not in (None, 0)), None)
            if not running or failed:
                break
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 0.3
                if self.stop_requested():
                    stopped = True
                    break
            if time.time() >= deadline:
                # SageMaker ends a job that reaches MaxRuntimeInSeconds as Stopped with SecondaryStatus
                # MaxRuntimeExceeded (SecondaryStatusTransition docs): SIGTERM, a grace period, then kill,
                # and whatever model the script saved is still uploaded.
                stopped = max_runtime_hit = True
                self.log(f"MaxRuntimeInSeconds ({int(max_runtime)}) exceeded: stopping the job")
                break
            time.sleep(POLL_SECONDS)
        if stopped or failed:
            self._terminate(procs)
        self._terminate(sidecars)  # the parameter servers live as long as the scripts
        for proc in (*procs, *sidecars):
            proc.popen.wait()
            for thread in proc.threads:
                thread.join(timeout=5)
        if stopped:
            self.end_stopped(plans, max_runtime=max_runtime_hit)
        elif failed:
            self.end_failed(self._failure_reason(failed), plans)
        elif self.stop_requested():
            self.end_stopped(plans, max_runtime=False)
        else:
            self.end_completed(plans)

    # -- endings -------------------------------------------------------------------------------
    def end_completed(self, plans: list[HostPlan]) -> None:
        """Upload the artifacts and end Completed."""
        master = plans[0].base
        (master / "output" / "success").touch()
        if not self._secondary("Uploading"):
            self.end_stopped(plans, max_runtime=False)
            return
        self._sync_checkpoints(plans)
        model_uri = self._upload_tar(master / "model", "model.tar.gz")
        self._upload_tar(master / "output" / "data", "output.tar.gz")
        metrics = self._metrics()
        self.log("Training job completed")

        def mutate(state: dict[str, Any]) -> None:
            if state["status"] in TERMINAL_STATUSES:
                return
            state["model_artifacts"] = model_uri
            state["metrics"] = metrics
            finish_job(state, "Completed", "Completed", time.time())

        self._update(mutate)

    def end_failed(self, reason: str, plans: list[HostPlan]) -> None:
        """End the job Failed with ``reason`` (also written to output/failure when missing)."""
        if plans:
            failure_file = plans[0].base / "output" / "failure"
            if not failure_file.exists():
                with contextlib.suppress(OSError):
                    failure_file.write_text(reason)
        metrics = self._metrics()

        def mutate(state: dict[str, Any]) -> None:
            if state["status"] in TERMINAL_STATUSES:
                return
            state["metrics"] = metrics
            finish_job(state, "Failed", "Failed", time.time(), reason)

        self._update(mutate)

    def end_stopped(self, plans: list[HostPlan], *, max_runtime: bool) -> None:
        """Sync checkpoints, upload the model saved so far, and end Stopped."""

        def to_stopping(state: dict[str, Any]) -> None:
            if state["status"] == "InProgress":
                state["status"] = "Stopping"
                add_transition(state, "Stopping", time.time())

        self._update(to_stopping)
        model_uri = None
        if plans:
            self._sync_checkpoints(plans)
            model_dir = plans[0].base / "model"
            if model_dir.is_dir() and any(model_dir.iterdir()):
                model_uri = self._upload_tar(model_dir, "model.tar.gz")
        metrics = self._metrics()
        self.log("Training job stopped")

        def mutate(state: dict[str, Any]) -> None:
            if state["status"] in TERMINAL_STATUSES:
                return
            if model_uri:
                state["model_artifacts"] = model_uri
            state["metrics"] = metrics
            finish_job(state, "Stopped", "MaxRuntimeExceeded" if max_runtime else "Stopped", time.time())

        self._update(mutate)

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _make_dirs(base: Path) -> None:
        for sub in (
            "input/config",
            "input/data",
            "model",
            "output/data",
            "output/intermediate",
            "code",
        ):
            (base / sub).mkdir(parents=True, exist_ok=True)

    def _base_env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k in _KEPT_ENV or k.startswith("LC_")}

    def _check_tf_version(self, code_dir: Path) -> None:
        """Say once when a script that uses TensorFlow gets another TensorFlow here than its image has."""
        image = self.request.get("AlgorithmSpecification", {}).get("TrainingImage", "")
        wanted = image_tf_version(image)
        if not wanted or not uses_tensorflow(code_dir):
            return
        have = local_tf_version()
        if have is None:
            self.log(f"WARNING: the image asks for TensorFlow {wanted} but TensorFlow is not installed locally")
        elif have != wanted:
            self.log(f"Note: the image has TensorFlow {wanted}; this machine runs the script with TensorFlow {have}")

    def _check_gpus(self, environment: dict[str, str]) -> int:
        """Return the GPUs this machine gives each host; warn once when a GPU instance type gets none."""
        gpus = gpu_count({**self._base_env(), **environment})  # CUDA_VISIBLE_DEVICES as the script gets it
        wanted = [g["instance_type"] for g in self.groups if processor_for(g["instance_type"]) == "gpu"]
        if wanted and gpus == 0:
            self.log(
                f"WARNING: {', '.join(sorted(set(wanted)))} is a GPU instance type but this machine shows no GPU "
                "(nvidia-smi, CUDA_VISIBLE_DEVICES): the job runs on CPU, with SM_NUM_GPUS=0"
            )
        return gpus

    def _place_channels(self, base: Path, host_index: int) -> None:
        channels = self.request.get("InputDataConfig") or []
        place_channels(self.store, channels, base / "input" / "data", host_index, len(self.hosts))

    def _unpack_code(self, code_dir: Path, submit: Any) -> None:
        if not submit:
            self.log("WARNING: no sagemaker_submit_directory: the code directory is empty")
            return
        text = str(submit)
        try:
            if text.startswith("s3://"):
                path = self.store.uri_path(text)
            elif text.startswith("file://"):
                path = Path(text[len("file://") :])
            else:
                path = Path(text)
        except InvalidKeyError as exc:
            raise JobError(f"ClientError: sagemaker_submit_directory: {exc}") from None
        if path.is_dir():
            shutil.copytree(path, code_dir, dirs_exist_ok=True)
            return
        if not path.is_file():
            raise JobError(f"ClientError: sagemaker_submit_directory {text} does not exist")
        with tarfile.open(path, "r:*") as tar:
            tar.extractall(code_dir, filter="data")

    def _install_requirements(self, base: Path, python: str, env: dict[str, str]) -> str | None:
        requirements = base / "code" / "requirements.txt"
        if not requirements.is_file():
            return None
        if not is_true(env.get("AIRFLOW_TF_SM_INSTALL_REQUIREMENTS", "false")):
            self.log(
                "WARNING: requirements.txt found but not installed; set the job Environment "
                "AIRFLOW_TF_SM_INSTALL_REQUIREMENTS=true to install it locally"
            )
            return None
        try:
            return str(install_requirements(requirements, self.engine.root, python, env, self.log))
        except RequirementsError as exc:
            raise JobError(str(exc)) from None

    def _checkpoint_uri(self) -> str | None:
        config = self.request.get("CheckpointConfig") or {}
        return config.get("S3Uri")

    def _restore_checkpoints(self, plans: list[HostPlan]) -> None:
        uri = self._checkpoint_uri()
        if not uri:
            return
        count = restore_checkpoints(self.store, uri, [plan.base / "checkpoints" for plan in plans])
        if count:
            self.log(f"Restored {count} checkpoint file(s) from {uri}")

    def _sync_checkpoints(self, plans: list[HostPlan]) -> None:
        """Copy algo-1's checkpoint directory to CheckpointConfig.S3Uri."""
        uri = self._checkpoint_uri()
        if not uri or not plans:
            return
        count = upload_tree(self.store, plans[0].base / "checkpoints", uri, self.engine.job_dir(self.name), self.log)
        self.log(f"Uploaded {count} checkpoint file(s) to {uri}")

    def _artifact_uri(self, filename: str) -> str:
        output = self.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        return f"{output}/{self.name}/output/{filename}"

    def _upload_tar(self, directory: Path, filename: str) -> str:
        uri = self._artifact_uri(filename)
        upload_tar(self.store, directory, uri, self.engine.job_dir(self.name), self.log)
        self.log(f"Uploaded {uri}")
        return uri

    def _metrics(self) -> list[dict[str, Any]]:
        definitions = self.request.get("AlgorithmSpecification", {}).get("MetricDefinitions") or []
        if not definitions:
            return []
        events: list[dict[str, Any]] = []
        for stream in self.engine.load(self.name).get("log_streams", []):
            path = self.logs.stream_path(LOG_GROUP, stream)
            if path.is_file():
                events.extend(self.logs.read_events(path, 0, 10**9)[0])
        events.sort(key=lambda e: e.get("timestamp", 0))
        return final_metrics(definitions, events, metric_budget(self.request.get("Environment")), self.log)

    def _spawn(self, plan: HostPlan, sidecar: list[str] | None = None) -> _Proc:
        writer = self._stream(plan.host)
        argv = sidecar or plan.argv
        if sidecar:
            writer.write(f"Launching parameter server process: task {argv[-1]} of the ps job")
        else:
            writer.write(f"Invoking script with the following command: {' '.join(redact_argv(argv))}")
        popen = subprocess.Popen(
            argv,
            cwd=plan.base / "code",
            env=plan.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        tail: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        assert popen.stdout is not None and popen.stderr is not None
        threads = [
            threading.Thread(target=_pump, args=(popen.stdout, writer, None), daemon=True),
            threading.Thread(target=_pump, args=(popen.stderr, writer, tail), daemon=True),
        ]
        for thread in threads:
            thread.start()
        return _Proc(plan=plan, popen=popen, writer=writer, stderr_tail=tail, threads=threads)

    @staticmethod
    def _proc_record(proc: _Proc) -> dict[str, Any]:
        return {"host": proc.plan.host, "pid": proc.popen.pid, "token": process_token(proc.popen.pid)}

    def _terminate(self, procs: list[_Proc]) -> None:
        """SIGTERM every host's process group, then SIGKILL what is left after the grace period."""
        for proc in procs:
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(p.popen.poll() is None for p in procs):
            time.sleep(POLL_SECONDS)
        for proc in procs:
            if proc.popen.poll() is None:
                self.log(f"{proc.plan.host}: still running {self.grace:g}s after SIGTERM: sending SIGKILL")
            # the whole group: children the script started die with it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.popen.pid, signal.SIGKILL)

    def _failure_reason(self, proc: _Proc) -> str:
        failure_file = proc.plan.base / "output" / "failure"
        if failure_file.is_file():
            text = failure_file.read_text(errors="replace")
            if text.strip():
                return text[:1024]
        command = redact_argv([Path(proc.plan.argv[0]).name, *proc.plan.argv[1:]])
        code = proc.popen.returncode if proc.popen.returncode is not None else -1
        return failure_reason_for_exit(code, command, list(proc.stderr_tail))[:1024]


def _pump(stream: IO[bytes], writer: StreamWriter, tail: collections.deque[str] | None) -> None:
    """Copy a script's output to its log stream line by line (``tail``: stderr, remembered for the reason)."""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        writer.write(line, stream="stderr" if tail is not None else None)
        if tail is not None:
            tail.append(line)
    stream.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m airflow_tf_sm.backends.local.runner``."""
    parser = argparse.ArgumentParser(description="Run one local SageMaker-style training job.")
    parser.add_argument("--root", required=True, help="local backend root directory")
    parser.add_argument("--job", required=True, help="training job name")
    parser.add_argument("--detach", action="store_true", help="fork into the background and return")
    args = parser.parse_args(argv)
    engine = Engine(args.root)
    state = engine.load(args.job)
    if state["status"] not in ACTIVE_STATUSES:
        return 0
    if args.detach:
        if detach_and_record(lambda record: engine.update(args.job, lambda state: state.__setitem__("runner", record))):
            # The launcher's only job was the fork: leave at once, skipping interpreter teardown,
            # so the submitting task learns its job exists without delay.
            sys.stdout.flush()
            os._exit(0)
    else:
        record = own_record()
        engine.update(args.job, lambda s: s.__setitem__("runner", record))
    Runner(engine, args.job).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
