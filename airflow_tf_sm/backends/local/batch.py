"""The local batch transform worker: scores every input object of one transform job with its model.

Started by ``LocalSageMakerClient.create_transform_job`` as a detached process::

    python -m airflow_tf_sm.backends.local.batch --root ROOT --job NAME --detach

It extracts the job's ``model.tar.gz`` and loads the model **once**, with the local model server's loader
and request handling (``serving.py``: ``extract_model``, ``load_model``, ``parse_body``, ``to_columns``,
``to_response``), so a batch transform and an endpoint answer the same rows alike. Then for every object
under the input prefix (or in the manifest), in key order: decompress (``Gzip``), cut into records, group
them into requests (``BatchStrategy``, ``MaxPayloadInMB``), run ``MaxConcurrentTransforms`` requests at once
(threads around the one model: TensorFlow releases the GIL while it computes), write the outputs in record
order to ``<S3OutputPath>/<relative key>.out`` (``records.py``: filters, join, ``Accept``, ``AssembleWith``),
committed only when the whole object succeeded. With several requests in flight, reading rows into the
model's inputs and rendering its outputs (Python work that holds the GIL) runs in as many helper processes
(plain Python, no model), so the requests really run side by side on several cores.

A record the model refuses fails its object: the FailureReason names the object and the record (a refused
request of several records is bisected down to the first bad one); the other objects are still scored and
keep their outputs, and the job ends Failed. ``StopTransformJob`` ends the job Stopped after the requests
in flight. Logs go to the ``/aws/sagemaker/TransformJobs`` log group, stream ``<job>/local-1-<epoch>``.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import gzip
import json
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_tf_sm.backends.local.logstore import LogStore, StreamWriter
from airflow_tf_sm.backends.local.processes import detach_and_record, own_record
from airflow_tf_sm.backends.local.records import Batch, Processing, Record, RecordError, Unit, batches
from airflow_tf_sm.backends.local.serving import (
    InvalidInputError,
    ModelLoadError,
    ServableModel,
    extract_model,
    load_model,
    parse_body,
    plain_outputs,
    to_columns,
    to_response,
)
from airflow_tf_sm.backends.local.store import InvalidKeyError, LocalObjectStore, relative_key, split_s3_uri
from airflow_tf_sm.backends.local.transforms import TransformStore, finish
from airflow_tf_sm.sagemaker.limits import DEFAULT_MAX_PAYLOAD_MB
from airflow_tf_sm.sagemaker.resources import TRANSFORM_LOG_GROUP
from airflow_tf_sm.sagemaker.transform import OUTPUT_SUFFIX

HEARTBEAT_SECONDS = 2.0
#: Seconds between two reads of the job record to notice a stop request.
STOP_CHECK_SECONDS = 0.25


class JobError(Exception):
    """Ends the job Failed with ``reason`` as its FailureReason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StopRequested(Exception):
    """The job was asked to stop while an object was being scored."""


@dataclass(frozen=True)
class InputObject:
    """One object to score.

    Attributes:
        uri: Its ``s3://`` URI.
        path: Where its bytes are in the local object store.
        relative: Its key relative to the input prefix (or as the manifest lists it): the output's name.
    """

    uri: str
    path: Path
    relative: str


class BatchWorker:
    """Drives one transform job from InProgress to Completed, Failed or Stopped.

    Args:
        store: The transform job records of the local root.
        name: The transform job name.
    """

    def __init__(self, store: TransformStore, name: str) -> None:
        self.store = store
        self.name = name
        self.objects = LocalObjectStore(store.root)
        state = store.load(name)
        self.request: dict[str, Any] = state["request"]
        transform_input = self.request["TransformInput"]
        output = self.request.get("TransformOutput") or {}
        self.content_type = transform_input.get("ContentType")
        self.split_type = transform_input.get("SplitType")
        self.strategy = self.request.get("BatchStrategy")
        payload = self.request.get("MaxPayloadInMB")
        self.max_payload = DEFAULT_MAX_PAYLOAD_MB if payload is None else int(payload)
        self.concurrency = max(1, int(self.request.get("MaxConcurrentTransforms") or 1))
        processing = self.request.get("DataProcessing") or {}
        self.processing = Processing(
            content_type=self.content_type,
            split_type=self.split_type,
            accept=output.get("Accept"),
            assemble_with=output.get("AssembleWith"),
            input_filter=processing.get("InputFilter"),
            output_filter=processing.get("OutputFilter"),
            join_source=processing.get("JoinSource"),
        )
        stream = f"{name}/local-1-{int(time.time())}"
        self._stream = StreamWriter(LogStore(store.root).create_stream(TRANSFORM_LOG_GROUP, stream))
        self._stop_signal = threading.Event()
        self._done = threading.Event()
        self._stop_checked = 0.0
        self._stopping = False
        self.model: ServableModel | None = None
        self._codec: concurrent.futures.ProcessPoolExecutor | None = None

    # -- bookkeeping ---------------------------------------------------------------------------
    def log(self, message: str) -> None:
        """Write a line to the job's log stream (and the worker's own output)."""
        print(message, flush=True)
        for line in message.splitlines() or [""]:
            with contextlib.suppress(OSError):
                self._stream.write(line)

    def stop_requested(self) -> bool:
        """Return whether someone asked the job to stop (read from the record at most every 0.25 s)."""
        if self._stop_signal.is_set() or self._stopping:
            return True
        now = time.monotonic()
        if now - self._stop_checked >= STOP_CHECK_SECONDS:
            self._stop_checked = now
            self._stopping = self.store.load(self.name)["status"] == "Stopping"
        return self._stopping

    def _heartbeat_loop(self) -> None:
        while not self._done.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(OSError):
                self.store.touch_heartbeat(self.name)

    def _progress(self, **counts: int) -> None:
        def mutate(state: dict[str, Any]) -> None:
            state.setdefault("progress", {}).update(counts)
            state["last_modified_time"] = time.time()

        self.store.update(self.name, mutate)

    # -- the job -------------------------------------------------------------------------------
    def run(self) -> None:
        """Run the job to its end; never raises."""
        signal.signal(signal.SIGTERM, lambda *_: self._stop_signal.set())
        threading.Thread(target=self._heartbeat_loop, daemon=True).start()
        started = time.monotonic()
        try:
            self.store.update(self.name, lambda s: s.__setitem__("start_time", time.time()))
            self.log(f"Starting local batch transform job {self.name}")
            if self.concurrency > 1:
                self.codec()  # its processes start while the model loads
            self.model = self.load_or_stop()
            inputs = self.inputs()
            self._progress(objects=len(inputs))
            failures: list[str] = []
            records = 0
            for done, item in enumerate(inputs, start=1):
                if self.stop_requested():
                    break
                try:
                    records += self.transform_object(item)
                except RecordError as exc:
                    failures.append(f"{item.uri}: {exc.record.where()}: {exc}")
                    self.log(f"ERROR: {failures[-1]}")
                except JobError as exc:
                    failures.append(f"{item.uri}: {exc.reason}")
                    self.log(f"ERROR: {failures[-1]}")
                except StopRequested:
                    break
                self._progress(objects_done=done, records=records)
            seconds = time.monotonic() - started
            self.log(f"Scored {records} record(s) of {len(inputs)} object(s) in {seconds:.1f} s")
            self.end(failures)
        except JobError as exc:
            self.log(f"ERROR: {exc.reason}")
            failure = exc.reason
            self.store.update(self.name, lambda s: finish(s, "Failed", failure))
        except Exception as exc:  # an error of the local backend itself
            self.log(traceback.format_exc())
            reason = f"InternalServerError: local backend error: {exc!r}"
            self.store.update(self.name, lambda s: finish(s, "Failed", reason))
        finally:
            if self._codec is not None:
                self._codec.shutdown(cancel_futures=True)
            self._done.set()
            self._stream.close()

    def end(self, failures: Sequence[str]) -> None:
        """Put the job in its final status: Stopped if asked to stop, Failed with the first failure, else Completed."""
        stopped = self.stop_requested()
        reason: str | None = None
        if stopped:
            self.log("Transform job stopped")
        elif failures:
            more = f" (and {len(failures) - 1} more object(s) failed)" if len(failures) > 1 else ""
            reason = f"ClientError: {failures[0]}{more}"
        else:
            self.log("Transform job completed")

        def mutate(state: dict[str, Any]) -> None:
            if stopped or state.get("status") == "Stopping":
                finish(state, "Stopped")
            elif reason:
                finish(state, "Failed", reason)
            else:
                finish(state, "Completed")

        self.store.update(self.name, mutate)

    def load_or_stop(self) -> ServableModel:
        """Load the model, honouring a stop request while it loads (a load can take minutes).

        A stop during the load ends the job ``Stopped`` and this process at once, as SageMaker tears the
        instance down; after the load, stops are noticed between objects and requests.
        """
        loaded = threading.Event()
        phase = threading.Lock()

        def watch() -> None:
            while not loaded.wait(STOP_CHECK_SECONDS):
                with phase:
                    if loaded.is_set() or not self.stop_requested():
                        continue
                    self.log("Transform job stopped while the model loaded")
                    self.store.update(self.name, lambda s: finish(s, "Stopped"))
                    if self._codec is not None:
                        self._codec.shutdown(wait=False, cancel_futures=True)
                    self._stream.close()
                    sys.stdout.flush()
                    os._exit(0)  # the loader may be in C code that no signal interrupts

        threading.Thread(target=watch, name="stop-while-loading", daemon=True).start()
        try:
            return self.load()
        finally:
            with phase:
                loaded.set()

    def load(self) -> ServableModel:
        """Extract the model's ``model.tar.gz`` into the job's directory and load it (once per job)."""
        from airflow_tf_sm.backends.local.hosting import MODEL, HostingStore

        record = HostingStore(self.store.root).load_record(MODEL, self.request["ModelName"])
        if record is None:
            raise JobError(f"ClientError: model {self.request['ModelName']} no longer exists")
        url = ((record.get("request") or {}).get("PrimaryContainer") or {}).get("ModelDataUrl")
        if not url:
            raise JobError("ClientError: the model has no ModelDataUrl (the local backend needs model.tar.gz)")
        try:
            archive = self.objects.uri_path(url)
        except InvalidKeyError as exc:
            raise JobError(f"ClientError: {exc}") from None
        if not archive.is_file():
            raise JobError(f"ClientError: model data not found: {url}")
        target = self.store.job_dir(self.name) / "model"
        try:
            self.log(f"Extracting {url} and loading the model")
            extract_model(archive, target)
            model = load_model(target)
        except ModelLoadError as exc:
            raise JobError(f"ClientError: the model cannot be loaded: {exc}") from None
        self.log(f"Model loaded (inputs: {', '.join(model.input_names)})")
        return model

    def inputs(self) -> list[InputObject]:
        """Return the objects to score: every object under the S3 prefix, or those the manifest lists."""
        source = self.request["TransformInput"]["DataSource"]["S3DataSource"]
        uri = source["S3Uri"]
        try:
            bucket, prefix = split_s3_uri(uri)
            if source.get("S3DataType") == "ManifestFile":
                return self._manifest(uri)
            found = [
                InputObject(f"s3://{bucket}/{obj.key}", obj.path, relative_key(obj.key, prefix))
                for obj in self.objects.iter_objects(bucket, prefix)
            ]
        except InvalidKeyError as exc:
            raise JobError(f"ClientError: {exc}") from None
        if not found:
            raise JobError(
                f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. '
                "Please ensure that the bucket exists and that objects exist under that S3 prefix."
            )
        return found

    def _manifest(self, uri: str) -> list[InputObject]:
        path = self.objects.uri_path(uri)
        if not path.is_file():
            raise JobError(f"ClientError: manifest file {uri} not found")
        try:
            entries = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise JobError(f"ClientError: manifest file {uri} is not JSON: {exc}") from None
        head = entries[0] if isinstance(entries, list) and entries else None
        if not isinstance(head, dict) or not isinstance(head.get("prefix"), str):
            raise JobError(f'ClientError: manifest file {uri} must be [{{"prefix": "s3://..."}}, "key", ...]')
        found = []
        for relative in entries[1:]:
            if not isinstance(relative, str) or not relative:
                raise JobError(f"ClientError: manifest file {uri}: entries after the prefix must be keys")
            item_uri = f"{head['prefix'].rstrip('/')}/{relative.lstrip('/')}"
            item_path = self.objects.uri_path(item_uri)
            if not item_path.is_file():
                raise JobError(f"ClientError: manifest file {uri} names {item_uri}, which does not exist")
            found.append(InputObject(item_uri, item_path, relative.lstrip("/")))
        return found

    # -- one object ----------------------------------------------------------------------------
    def output_location(self, item: InputObject) -> tuple[str, str]:
        """Return the bucket and key of an object's output, ``<S3OutputPath>/<relative key>.out``."""
        bucket, key = split_s3_uri(self.request["TransformOutput"]["S3OutputPath"])
        return bucket, "/".join(part for part in (key.rstrip("/"), item.relative + OUTPUT_SUFFIX) if part)

    def transform_object(self, item: InputObject) -> int:
        """Score one object and commit its output; return the number of records.

        Raises:
            RecordError: a record the job cannot process (nothing is written for this object).
            JobError: the object cannot be read or decompressed.
            StopRequested: the job was asked to stop meanwhile.
        """
        data = item.path.read_bytes()
        if self.request["TransformInput"].get("CompressionType") == "Gzip":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as exc:
                raise JobError(f"cannot decompress (CompressionType Gzip): {exc}") from None
        bucket, key = self.output_location(item)
        job_dir = self.store.job_dir(self.name)
        fd, tmp = tempfile.mkstemp(dir=job_dir, prefix=".out-")
        requests = records = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for count, chunk in self._outputs(data):
                    out.write(chunk)
                    requests += 1
                    records += count
            self.objects.put_file(bucket, key, tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)
        self.log(f"{item.uri} -> s3://{bucket}/{key}: {records} record(s) in {requests} request(s)")
        return records

    def _outputs(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """Yield each request's record count and output, in record order, ``MaxConcurrentTransforms`` in flight."""
        requests = batches(data, self.split_type, self.strategy, self.max_payload)
        if self.concurrency == 1:
            for batch in requests:
                if self.stop_requested():
                    raise StopRequested()
                yield batch.record_count, self.score(batch)
            return
        codec = self.codec()
        window: collections.deque[tuple[int, concurrent.futures.Future[bytes]]] = collections.deque()
        with concurrent.futures.ThreadPoolExecutor(self.concurrency, thread_name_prefix="transform") as pool:
            try:
                for batch in requests:
                    if self.stop_requested():
                        raise StopRequested()
                    window.append((batch.record_count, pool.submit(self.score, batch, codec)))
                    while len(window) > self.concurrency:
                        count, future = window.popleft()
                        yield count, future.result()
                while window:
                    count, future = window.popleft()
                    yield count, future.result()
            finally:
                for _, future in window:
                    future.cancel()

    def codec(self) -> concurrent.futures.Executor:
        """Return the processes that read and write rows while requests are in flight (started once per job).

        Reading records into the model's inputs and rendering its outputs is Python work that holds the
        GIL; with several requests in flight it runs in ``MaxConcurrentTransforms`` helper processes (plain
        Python, no model), while the one model predicts in this process's threads.
        """
        if self._codec is None:
            import multiprocessing

            context = multiprocessing.get_context("spawn")  # never fork a process that runs TensorFlow
            self._codec = concurrent.futures.ProcessPoolExecutor(self.concurrency, mp_context=context)
            for _ in range(self.concurrency):
                self._codec.submit(warm_up)  # one process each (a busy pool starts another), imports done
        return self._codec

    def score(self, batch: Batch, codec: concurrent.futures.Executor | None = None) -> bytes:
        """Send one request to the model and return its rendered output.

        Raises:
            RecordError: naming the first record the model refuses.
        """
        model = self.model
        assert model is not None

        def run(function: Any, *args: Any) -> Any:
            return codec.submit(function, *args).result() if codec is not None else function(*args)

        try:
            inputs, row_format, units = run(
                encode_request, self.processing, self.content_type, list(model.input_names), batch
            )
            outputs = model_predict(model, inputs)
        except (RecordError, concurrent.futures.BrokenExecutor):
            raise
        except InvalidInputError as exc:
            raise self.locate(batch.records(), exc) from None
        except Exception as exc:  # the container would answer 500: the object fails
            message = f"the model failed ({batch.where()}): {type(exc).__name__}: {exc}"
            raise RecordError(batch.records()[0], message) from None
        try:
            return bytes(run(render_response, self.processing, outputs, row_format, units, batch.record_count))
        except (RecordError, concurrent.futures.BrokenExecutor):
            raise
        except ValueError as exc:
            raise RecordError(batch.records()[0], f"{exc} ({batch.where()})") from None

    def locate(self, records: Sequence[Record], error: InvalidInputError) -> RecordError:
        """Find the first record of a refused request that the model refuses on its own (bisecting)."""
        candidates = list(records)
        reason = str(error)
        while len(candidates) > 1:
            half = len(candidates) // 2
            for part in (candidates[:half], candidates[half:]):
                problem = self._refused(part)
                if problem is not None:
                    candidates, reason = part, problem
                    break
            else:
                first, last = candidates[0].number, candidates[-1].number
                return RecordError(candidates[0], f"{reason} (records {first}-{last} together)")
        return RecordError(candidates[0], reason)

    def _refused(self, records: Sequence[Record]) -> str | None:
        model = self.model
        assert model is not None
        try:
            inputs, _, _ = encode_records(self.processing, self.content_type, list(model.input_names), records)
            model_predict(model, inputs)
        except InvalidInputError as exc:
            return str(exc)
        return None


def encode_request(
    processing: Processing, content_type: str | None, input_names: list[str], batch: Batch
) -> tuple[dict[str, Any], bool, list[Unit]]:
    """Turn one request into the model's input batches, as the TF Serving container reads its body.

    Without data processing the body goes to the model as it is; with it, the records are read one by one.

    Returns:
        ``(inputs, row_format, units)``: input name -> batch, whether the body used TF Serving's row format,
        and the units the data processing read (for the join).

    Raises:
        RecordError: a record that cannot be read or does not fit the input filter.
        InvalidInputError: a body the container would refuse.
    """
    if processing.per_unit:
        return encode_records(processing, content_type, input_names, batch.records())
    inputs, row_format = to_columns(parse_body(batch.body, content_type), input_names)
    return {name: _packed(column) for name, column in inputs.items()}, row_format, []


def encode_records(
    processing: Processing, content_type: str | None, input_names: list[str], records: Sequence[Record]
) -> tuple[dict[str, Any], bool, list[Unit]]:
    """Like :func:`encode_request`, for records read one by one (filters, joins, locating a bad record)."""
    body, units = processing.request(records)
    inputs, row_format = to_columns(parse_body(body, content_type), input_names)
    return {name: _packed(column) for name, column in inputs.items()}, row_format, units


def warm_up() -> None:
    """Import in a codec process what reading CSV needs, before the first request arrives."""
    with contextlib.suppress(ImportError):
        import numpy  # noqa: F401


def _packed(column: Any) -> Any:
    """Return a numeric batch as a numpy array (it crosses processes at memory speed), anything else as it is."""
    try:
        import numpy as np

        array = np.asarray(column)
    except (ImportError, ValueError, TypeError):
        return column
    return array if array.dtype.kind in "biuf" else column


def model_predict(model: ServableModel, inputs: dict[str, Any]) -> dict[str, Any]:
    """Run the model on one request's inputs: arrays straight into a TensorFlow model, nested lists into others."""
    arrays = getattr(model, "predict_arrays", None)
    if arrays is not None:
        return dict(arrays(inputs))
    return model.predict(
        {name: column.tolist() if hasattr(column, "tolist") else column for name, column in inputs.items()}
    )


def render_response(
    processing: Processing, outputs: dict[str, Any], row_format: bool, units: list[Unit], count: int
) -> bytes:
    """Turn the model's outputs for one request into its output bytes (TF Serving body, Accept, join, filters)."""
    return processing.output(to_response(plain_outputs(outputs), row_format), units, count)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m airflow_tf_sm.backends.local.batch``."""
    parser = argparse.ArgumentParser(description="Run one local SageMaker-style batch transform job.")
    parser.add_argument("--root", required=True, help="local backend root directory")
    parser.add_argument("--job", required=True, help="transform job name")
    parser.add_argument("--detach", action="store_true", help="fork into the background and return")
    args = parser.parse_args(argv)
    store = TransformStore(args.root)
    state = store.load(args.job)
    if state["status"] == "Stopping":  # stopped before the worker came up
        store.update(args.job, lambda s: finish(s, "Stopped"))
    if state["status"] != "InProgress":
        return 0

    def record_worker(record: dict[str, Any]) -> None:
        store.update(args.job, lambda s: s.__setitem__("worker", record))

    if args.detach:
        if detach_and_record(record_worker):
            sys.stdout.flush()
            os._exit(0)  # the launcher's only job was the fork
    else:
        record_worker(own_record())
    BatchWorker(store, args.job).run()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown (TensorFlow's can hang)


if __name__ == "__main__":
    # run from the module's own name, so model loaders importing the serving errors share the classes
    from airflow_tf_sm.backends.local.batch import main as _main

    sys.exit(_main())
