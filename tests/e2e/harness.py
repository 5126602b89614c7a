"""A real Airflow 3 deployment for the end-to-end tests.

:class:`AirflowCluster` starts a throwaway PostgreSQL (:class:`PostgresServer`), runs ``airflow db
migrate``, then the four long-lived processes a deployment runs -- ``scheduler`` (LocalExecutor),
``dag-processor``, ``triggerer`` and ``api-server`` on 127.0.0.1 -- in a temporary AIRFLOW_HOME, with the
local backend and a temporary ``local_root``. Each process runs in its own process group with its
output in ``<base>/logs/<name>.log``; :meth:`AirflowCluster.close` stops them (SIGTERM, then SIGKILL),
stops the local training jobs still running, and kills any process left behind that belongs to this
cluster (found by a marker variable in its environment or its working directory under the cluster's
base directory).

:class:`RestClient` talks to the API server like a user would: ``POST /auth/token`` with the simple auth
manager's user and password, then the ``/api/v2`` endpoints with the bearer token.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_examples"
E2E_DAGS = Path(__file__).resolve().parent / "dags"
BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "dag-processor", "scheduler", "triggerer")
MARKER_ENV = "AIRFLOW_TF_SM_E2E_CLUSTER"
USERNAME = "admin"

T = TypeVar("T")


class ClusterError(AssertionError):
    """Something in the cluster did not happen in time; the message ends with the processes' log tails."""


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports on 127.0.0.1 that are free right now (all bound at once)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Call ``predicate`` until it returns a truthy value; return that value.

    Raises:
        TimeoutError: when ``timeout`` seconds pass first (the message says ``what`` was awaited).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError, KeyError) as exc:  # a process still coming up
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)


class ApiError(Exception):
    """The API server answered with an unexpected HTTP status."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {path} -> HTTP {status}: {body}")
        self.status = status
        self.body = body


class RestClient:
    """A minimal client of Airflow's public REST API with a token from the simple auth manager.

    Args:
        base_url: ``http://127.0.0.1:<port>``.
        username: User of the simple auth manager.
        password: That user's password.
    """

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._token: str | None = None

    def _send(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return status, payload

    def token(self) -> str:
        """Return a JWT from ``POST /auth/token`` (fetched once)."""
        if self._token is None:
            status, payload = self._send("POST", "/auth/token", {"username": self.username, "password": self.password})
            if status not in (200, 201):
                raise ApiError("POST", "/auth/token", status, payload)
            self._token = str(payload["access_token"])
        return self._token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send an authenticated request; return ``(status, decoded JSON body)`` whatever the status."""
        return self._send(method, path, body, self.token())

    def request(self, method: str, path: str, body: Any = None, expect: Iterable[int] = (200,)) -> Any:
        """Send an authenticated request and return its JSON body.

        Raises:
            ApiError: when the status is not one of ``expect``.
        """
        status, payload = self.call(method, path, body)
        if status not in tuple(expect):
            raise ApiError(method, path, status, payload)
        return payload

    def get(self, path: str, **query: Any) -> Any:
        """``GET`` a path with optional query parameters; return its JSON body."""
        if query:
            path += "?" + urllib.parse.urlencode(query, doseq=True)
        return self.request("GET", path)


class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1 for the metadata database (Debian's ``postgresql``).

    Airflow's processes write to the metadata database at the same time; SQLite serializes those writes
    and answers "database is locked" under that load (seen with ``airflow backfill create`` while the
    scheduler ran), so the cluster uses PostgreSQL, as a deployment would. As root, the server runs as the
    ``postgres`` user (PostgreSQL refuses root). Data stay in memory-friendly settings (no fsync).
    """

    def __init__(self, port: int) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
        if not bins:
            raise ClusterError("PostgreSQL is not installed (Debian package postgresql); see tests/e2e/setup.sh")
        self.bin = Path(bins[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="tf_sm_e2e_pg_"))
        self.port = port
        self.user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self.user is not None:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self.url = f"postgresql+psycopg://airflow@127.0.0.1:{self.port}/airflow"
        self.process: subprocess.Popen[bytes] | None = None

    def _run(self, *args: str) -> None:
        user = self.user.pw_uid if self.user else None
        result = subprocess.run(args, cwd=self.dir, capture_output=True, text=True, timeout=120, user=user)
        if result.returncode != 0:
            raise ClusterError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")

    def start(self, log_path: Path) -> None:
        """Create the data directory, start the server and create the ``airflow`` database."""
        data = self.dir / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync")
        settings = ["listen_addresses=127.0.0.1", f"port={self.port}", f"unix_socket_directories={self.dir}"]
        settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=300"]
        args = [str(self.bin / "postgres"), "-D", str(data)]
        for setting in settings:
            args += ["-c", setting]
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                args,
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self.user.pw_uid if self.user else None,
            )
        ready = [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        wait_for(lambda: subprocess.run(ready).returncode == 0, 60, "PostgreSQL to accept connections")
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "airflow", "airflow")

    def stop(self) -> None:
        """Stop the server (fast shutdown, then SIGKILL) and delete its data."""
        if self.process is not None:
            _signal_group(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class AirflowCluster:
    """Airflow's scheduler, dag-processor, triggerer and API server, for real, in a temporary home.

    Args:
        base: An empty directory for AIRFLOW_HOME, the local backend root and the process logs.
        parallelism: ``[core] parallelism``: the LocalExecutor's worker slots.
        extra_env: More environment for every process (e.g. Airflow connections).
    """

    def __init__(self, base: Path, *, parallelism: int = 2, extra_env: Mapping[str, str] | None = None) -> None:
        self.base = base
        self.home = base / "airflow_home"
        self.local_root = base / "tf_sm_root"
        self.log_dir = base / "logs"
        for path in (self.home, self.local_root, self.log_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.port, self.db_port, worker_log_port, trigger_log_port = free_ports(4)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(12)
        (self.home / "passwords.json").write_text(json.dumps({USERNAME: self.password}))
        self.env = self._environment(parallelism, extra_env or {})
        self.env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(worker_log_port)
        self.env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(trigger_log_port)
        self.api = RestClient(self.base_url, USERNAME, self.password)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._component_env: dict[str, dict[str, str]] = {}
        self.postgres: PostgresServer | None = None

    # ------------------------------------------------------------------ setup
    def _environment(self, parallelism: int, extra_env: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k != "AIRFLOW_HOME"}
        env.pop("AIRFLOW_TF_SM_LOCAL_FAULTS", None)
        classpath = "airflow.dag_processing.bundles.local.LocalDagBundle"
        bundles = [
            {"name": name, "classpath": classpath, "kwargs": {"path": str(path)}}
            for name, path in (("examples", EXAMPLES), ("e2e", E2E_DAGS))
        ]
        env.update(
            {
                MARKER_ENV: str(self.base),
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
                # one retry by default, as recommended for production (docs/production.rst): a retry
                # re-attaches to its job, and absorbs Airflow 3.3's stale-success race on deferred tasks
                # whose trigger fires within seconds of deferring (apache/airflow#67287)
                "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "1",
                "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(24),
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                "AIRFLOW__AIRFLOW_TF_SM__BACKEND": "local",
                "AIRFLOW__AIRFLOW_TF_SM__LOCAL_ROOT": str(self.local_root),
                # the examples import their shared package (tf_sm_example) from the DAGs folder
                "PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")])),
            }
        )
        env.update(extra_env)
        return env

    def airflow(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` CLI command with the cluster's environment; return its output."""
        result = subprocess.run(
            [str(BIN / "airflow"), *args],
            env=self.env,
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            command = " ".join(args)
            raise ClusterError(f"airflow {command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def migrate(self) -> None:
        """Start PostgreSQL and create Airflow's metadata database in it (``airflow db migrate``)."""
        self.postgres = PostgresServer(self.db_port)
        self.postgres.start(self.log_dir / "postgres.log")
        for key in ("SQL_ALCHEMY_CONN", "SQL_ALCHEMY_CONN_ASYNC"):  # psycopg 3 drives both
            self.env[f"AIRFLOW__DATABASE__{key}"] = self.postgres.url
        self.airflow("db", "migrate")

    # -------------------------------------------------------------- processes
    def start(self, name: str, extra_env: Mapping[str, str] | None = None) -> None:
        """Start one component (``scheduler``, ``dag-processor``, ``triggerer``, ``api-server``) in its own group."""
        if name in self.processes and self.processes[name].poll() is None:
            raise ClusterError(f"{name} is already running")
        env = {**self.env, **(extra_env or {})}
        self._component_env[name] = env
        args = [str(BIN / "airflow"), name]
        if name == "api-server":
            args += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        with open(self.log_dir / f"{name}.log", "ab") as log:
            log.write(f"\n===== {time.strftime('%H:%M:%S')} starting {name}\n".encode())
            log.flush()
            self.processes[name] = subprocess.Popen(
                args, env=env, cwd=self.base, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def stop(self, name: str, grace: float = 30.0) -> int | None:
        """Stop a component: SIGTERM to its process group, SIGKILL after ``grace`` seconds; return its exit code."""
        proc = self.processes.get(name)
        if proc is None:
            return None
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(10)
        # children that outlived their leader (e.g. a worker mid-task) go too
        _signal_group(proc.pid, signal.SIGKILL)
        return proc.returncode

    def restart(self, name: str, extra_env: Mapping[str, str] | None = None) -> None:
        """Stop a component and start it again (with ``extra_env`` on top of the cluster's environment)."""
        self.stop(name)
        self.start(name, extra_env)

    def start_all(self, timeout: float = 240.0) -> None:
        """Start every component and wait until the API server reports them healthy."""
        for name in COMPONENTS:
            self.start(name)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 120.0, components: Iterable[str] = ("scheduler", "triggerer")) -> None:
        """Wait until ``/api/v2/monitor/health`` reports the metadatabase and ``components`` healthy."""
        wanted = ["metadatabase", *components]

        def healthy() -> bool:
            self.check_running()
            status, health = self.api._send("GET", "/api/v2/monitor/health")
            return status == 200 and all(health.get(k, {}).get("status") == "healthy" for k in wanted)

        self.waiting(healthy, timeout, f"{', '.join(wanted)} to be healthy")

    def check_running(self) -> None:
        """Raise :class:`ClusterError` when a started component has exited."""
        for name, proc in self.processes.items():
            if proc.poll() is not None and name in self._component_env:
                raise ClusterError(f"{name} exited with {proc.returncode}\n{self.log_tails()}")

    def waiting(self, predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
        """:func:`wait_for`, but a timeout raises :class:`ClusterError` carrying the processes' log tails."""
        try:
            return wait_for(predicate, timeout, what, interval)
        except TimeoutError as exc:
            raise ClusterError(f"{exc}\n{self.log_tails()}") from None

    def log_tails(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of every component's log, for failure reports."""
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()
            tail = [line for line in text if "request finished" not in line][-lines:]  # no access log
            parts.append(f"----- {path.name} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(parts)

    def close(self) -> list[str]:
        """Stop every component, the local jobs left running, PostgreSQL, then any stray process of this cluster.

        Returns:
            Descriptions of the stray processes that had to be killed (empty when teardown was clean).
        """
        for proc in self.processes.values():  # all at once: SIGTERM, then wait for each
            _signal_group(proc.pid, signal.SIGTERM)
        for name in list(self.processes):
            with contextlib.suppress(Exception):
                self.stop(name)
        self.processes.clear()
        with contextlib.suppress(Exception):
            self.stop_local_jobs()
        if self.postgres is not None:
            self.postgres.stop()
        strays = self.stray_processes()
        for pid, _ in strays:
            _signal_group(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return [f"{pid} {cmd}" for pid, cmd in strays]

    def stray_processes(self) -> list[tuple[int, str]]:
        """Return ``(pid, command line)`` of live processes that belong to this cluster."""
        found = []
        base = str(self.base)
        marker = f"{MARKER_ENV}={base}".encode()
        roots = [base] + ([str(self.postgres.dir)] if self.postgres is not None else [])
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                stat = (entry / "stat").read_text()
                if stat[stat.rfind(")") + 2] in "ZX":
                    continue
                environ = (entry / "environ").read_bytes()
                cwd = os.readlink(entry / "cwd")
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except (OSError, IndexError):
                continue
            if marker in environ.split(b"\0") or any(cwd == r or cwd.startswith(r + os.sep) for r in roots):
                found.append((int(entry.name), cmdline))
        return found

    # ---------------------------------------------------------- local backend
    def sagemaker(self) -> Any:
        """Return the local backend's SageMaker client over the cluster's ``local_root``."""
        from airflow_tf_sm.backends.local.clients import local_clients

        return local_clients(self.local_root)[0]

    def stop_local_jobs(self) -> None:
        """Stop training jobs still running and delete local endpoints (when the backend has them)."""
        sm = self.sagemaker()
        for job in sm.list_training_jobs(StatusEquals="InProgress", MaxResults=100)["TrainingJobSummaries"]:
            with contextlib.suppress(Exception):
                sm.stop_training_job(TrainingJobName=job["TrainingJobName"])
        if hasattr(sm, "list_endpoints") and hasattr(sm, "delete_endpoint"):
            for endpoint in sm.list_endpoints(MaxResults=100).get("Endpoints", []):
                with contextlib.suppress(Exception):
                    sm.delete_endpoint(EndpointName=endpoint["EndpointName"])

    def jobs(self) -> list[dict[str, Any]]:
        """Return DescribeTrainingJob of every local job, with its tags under ``"Tags"`` as a dict."""
        sm = self.sagemaker()
        result = []
        for summary in sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]:
            desc = sm.describe_training_job(TrainingJobName=summary["TrainingJobName"])
            tags = sm.list_tags(ResourceArn=desc["TrainingJobArn"])["Tags"]
            desc["Tags"] = {t["Key"]: t["Value"] for t in tags}
            result.append(desc)
        return sorted(result, key=lambda d: d["CreationTime"])

    def jobs_of(self, dag_id: str, run_id: str | None = None, task_id: str = "train") -> list[dict[str, Any]]:
        """Return the local jobs started for a DAG (and run), oldest first, found by their Airflow tags."""
        from airflow_tf_sm.sagemaker.tags import job_tags

        want = job_tags(dag_id, task_id, run_id or "", -1)
        keys = [k for k in want if k.endswith(("dag-id", "task-id", "run-id" if run_id else "dag-id"))]
        return [j for j in self.jobs() if all(j["Tags"].get(k) == want[k] for k in keys)]

    def job_log(self, name: str) -> str:
        """Return a local job's training log, read with the local backend's command line."""
        result = subprocess.run(
            [sys.executable, "-m", "airflow_tf_sm.backends.local.cli", "--root", str(self.local_root), "logs", name],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout

    # -------------------------------------------------------------- REST API
    def wait_dags(self, dag_ids: Iterable[str], timeout: float = 180.0) -> None:
        """Wait until the DAG processor has serialized all ``dag_ids`` (so they can be triggered)."""
        wanted = set(dag_ids)

        def parsed() -> bool:
            self.check_running()
            dags = self.api.get("/api/v2/dags", limit=100)["dags"]
            ready = {d["dag_id"] for d in dags}
            errors = self.api.get("/api/v2/importErrors")
            if errors.get("total_entries"):
                raise ClusterError(f"DAG import errors: {errors}")
            return wanted <= ready

        self.waiting(parsed, timeout, f"DAGs {sorted(wanted)} to be parsed")

    def set_paused(self, dag_id: str, paused: bool) -> None:
        """Pause or unpause a DAG."""
        self.api.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused})

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, logical_date: str | None = None) -> str:
        """Trigger a DAG run through ``POST /api/v2/dags/{dag_id}/dagRuns``; return its run id."""
        body = {"logical_date": logical_date, "conf": dict(conf or {})}
        run = self.api.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)
        return str(run["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Return the DAG's runs in the order they were created."""
        return list(self.api.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100, order_by="id")["dag_runs"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """Return one DAG run."""
        return dict(self.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"))

    def active_runs(self) -> list[dict[str, Any]]:
        """Return the queued and running DAG runs of every DAG."""
        return list(self.api.get("/api/v2/dags/~/dagRuns", state=["queued", "running"], limit=100)["dag_runs"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str = "train") -> dict[str, Any]:
        """Return one task instance of a run."""
        return dict(
            self.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/{task_id}")
        )

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 240.0) -> dict[str, Any]:
        """Wait until a DAG run ends (success or failed) and return it."""

        def ended() -> dict[str, Any] | None:
            self.check_running()
            run = self.run(dag_id, run_id)
            return run if run["state"] in ("success", "failed") else None

        return self.waiting(ended, timeout, f"run {run_id} of {dag_id} to end")

    def task_log(self, dag_id: str, run_id: str, try_number: int, task_id: str = "train") -> str:
        """Return a task try's log as text (the API's structured log lines joined)."""
        path = (
            f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
            f"/taskInstances/{task_id}/logs/{try_number}?full_content=true"
        )
        content = self.api.request("GET", path).get("content")
        if isinstance(content, list):
            return "\n".join(line.get("event", "") if isinstance(line, dict) else str(line) for line in content)
        return str(content)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
