"""What every local client speaks like boto3: errors, response metadata, timestamps, paging, streaming bodies.

One place for the wire shapes of the local backend, so the training, hosting, tuning, transform, S3,
Logs and Runtime clients answer alike.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import os
import random
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import IO, Any, Protocol

FAULTS_ENV = "AIRFLOW_TF_SM_LOCAL_FAULTS"
_FAULT_RNGS: dict[str, random.Random] = {}
_FAULT_LOCK = threading.Lock()
#: List* time filters and the record field each compares (``after``: strictly later, ``before``: earlier).
TIME_FILTERS = {
    "CreationTimeAfter": ("creation_time", 1),
    "CreationTimeBefore": ("creation_time", -1),
    "LastModifiedTimeAfter": ("last_modified_time", 1),
    "LastModifiedTimeBefore": ("last_modified_time", -1),
}

#: The zero of epoch seconds.
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def metadata(status: int = 200) -> dict[str, Any]:
    """Return a ``ResponseMetadata`` like boto3's."""
    return {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}


def client_error(code: str, message: str, operation: str, status: int = 400, **extra: Any) -> Exception:
    """Build the ``botocore.exceptions.ClientError`` boto3 would raise."""
    from botocore.exceptions import ClientError

    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata(status), **extra}
    return ClientError(response, operation)


#: What S3 answers when the local disk refuses a write: errno -> (code, HTTP status, message).
_STORAGE_ERRORS: dict[int, tuple[str, int, str]] = {
    errno.ENOSPC: ("InternalError", 500, "We encountered an internal error. Please try again."),
    errno.EDQUOT: ("InternalError", 500, "We encountered an internal error. Please try again."),
    errno.EACCES: ("AccessDenied", 403, "Access Denied"),
    errno.EPERM: ("AccessDenied", 403, "Access Denied"),
    errno.EROFS: ("AccessDenied", 403, "Access Denied"),
    errno.ENAMETOOLONG: ("KeyTooLongError", 400, "Your key is too long"),
}


def storage_error(exc: OSError, operation: str) -> Exception:
    """Build the ``ClientError`` S3 gives for a write the local disk refused (a full disk: ``InternalError``, 500).

    The message keeps the local cause (``No space left on device``), so the log says what to fix.
    """
    code, status, message = _STORAGE_ERRORS.get(
        exc.errno or 0, ("InternalError", 500, "We encountered an internal error. Please try again.")
    )
    cause = exc.strerror or str(exc)
    return client_error(code, f"{message} (local object store: {cause})", operation, status)


def corrupt_record_error(exc: Exception, operation: str, code: str = "ValidationException") -> Exception:
    """Build the ``ClientError`` for a record of the local state that cannot be read (the message names its file).

    Not a not-found error and not retryable: the hook surfaces it at once, and a wait ends with it.
    """
    return client_error(code, str(exc), operation)


def to_datetime(epoch: float | None) -> datetime | None:
    """Return epoch seconds as the timezone-aware datetime boto3 hands out, at :func:`micros` precision.

    Not ``datetime.fromtimestamp``: it rounds some epochs to the other microsecond, and a time a List* call is
    given back (``CreationTimeAfter=<a job's CreationTime>``) must compare equal to the record it came from.
    """
    return None if epoch is None else _EPOCH + timedelta(microseconds=micros(epoch))


def micros(epoch: float) -> int:
    """Whole microseconds of an epoch time: the precision of the datetimes the API returns."""
    return round(epoch * 1_000_000)


def epoch_of(value: Any, field: str, operation: str) -> float:
    """Accept what boto3 accepts for a timestamp parameter: datetime, epoch number or ISO text."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):  # read as boto3 reads it (not datetime.fromisoformat: "Z" only from Python 3.11)
        from botocore.utils import parse_to_aware_datetime

        try:
            return float(parse_to_aware_datetime(value).timestamp())
        except (ValueError, OverflowError, RuntimeError):
            pass
    raise client_error("ValidationException", f"{field}: invalid timestamp {value!r}", operation)


def encode_token(data: dict[str, Any]) -> str:
    """Return an opaque pagination token for ``data``."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def decode_token(token: str, operation: str) -> dict[str, Any]:
    """Read a token of :func:`encode_token`; a foreign one is the ValidationException the API gives."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise client_error("ValidationException", "Invalid pagination token", operation) from None
    if not isinstance(data, dict):
        raise client_error("ValidationException", "Invalid pagination token", operation)
    return data


def paginate(items: Sequence[Any], token: str | None, limit: int, operation: str) -> tuple[list[Any], str | None]:
    """Return one page of ``items`` and the token of the next page (None on the last one)."""
    offset = int(decode_token(token, operation).get("offset", 0)) if token else 0
    page = list(items[offset : offset + limit])
    return page, encode_token({"offset": offset + limit}) if offset + limit < len(items) else None


def list_page(
    key: str,
    items: Sequence[Any],
    token: str | None,
    limit: int,
    operation: str,
    summary: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """Return one page of a List* response: ``{key: [summary(item), ...], "NextToken"?, "ResponseMetadata"}``."""
    page, next_token = paginate(items, token, int(limit), operation)
    resp: dict[str, Any] = {key: [summary(item) for item in page]}
    if next_token:
        resp["NextToken"] = next_token
    resp["ResponseMetadata"] = metadata()
    return resp


def list_records(
    records: Sequence[Mapping[str, Any]],
    operation: str,
    *,
    sort_by: str,
    sort_order: str,
    sort_keys: Mapping[str, Callable[[Mapping[str, Any]], Any]],
    name_contains: str | None = None,
    status_equals: str | None = None,
    statuses: Sequence[str] = (),
    times: Mapping[str, Any] | None = None,
    max_results: int | None = None,
) -> list[Mapping[str, Any]]:
    """Filter and sort records (``name``, ``status``, ``creation_time``, ``last_modified_time``) like List* calls.

    Time filters compare at the microsecond precision of the datetimes the API hands out.

    Raises:
        botocore.exceptions.ClientError: ``ValidationException`` for an unknown sort, status or a bad limit.
    """
    if sort_by not in sort_keys:
        raise client_error("ValidationException", f"Invalid SortBy: {sort_by}", operation)
    if sort_order not in ("Ascending", "Descending"):
        raise client_error("ValidationException", f"Invalid SortOrder: {sort_order}", operation)
    if status_equals is not None and status_equals not in statuses:
        raise client_error("ValidationException", f"Invalid StatusEquals: {status_equals}", operation)
    if max_results is not None and not 1 <= int(max_results) <= 100:
        raise client_error("ValidationException", "MaxResults must be between 1 and 100", operation)
    limits = {k: micros(epoch_of(v, k, operation)) for k, v in (times or {}).items() if v is not None}
    kept = []
    for record in records:
        if name_contains and name_contains.lower() not in str(record["name"]).lower():
            continue
        if status_equals and record.get("status") != status_equals:
            continue
        if any((micros(record[TIME_FILTERS[k][0]]) - v) * TIME_FILTERS[k][1] <= 0 for k, v in limits.items()):
            continue
        kept.append(record)
    kept.sort(key=sort_keys[sort_by], reverse=sort_order == "Descending")
    return kept


class ServiceModel(Protocol):
    """What :func:`list_call` needs of the service model (the module ``sagemaker.service_model`` has it)."""

    def request_errors(self, request: Mapping[str, Any], operation: str) -> Sequence[Any]:
        """Return every problem of a request."""
        ...

    def input_shape(self, operation: str) -> Any:
        """Return botocore's input shape of an operation."""
        ...


#: SortBy values of List* calls -> sort key of a record; a call takes the values its service model lists.
SORT_KEYS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "Name": lambda r: r["name"],
    "CreationTime": lambda r: (r["creation_time"], r["name"]),
    "Status": lambda r: (r.get("status", ""), r["name"]),
}


#: The List* arguments :func:`list_call` reads besides the time filters.
_LIST_ARGUMENTS = ("NextToken", "MaxResults", "NameContains", "StatusEquals", "SortBy", "SortOrder")


def list_call(
    operation: str,
    params: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    *,
    key: str,
    summary: Callable[[Any], dict[str, Any]],
    model: ServiceModel,
    max_results: int = 10,
) -> dict[str, Any]:
    """Answer one List* call over ``records`` like SageMaker: checked, filtered, sorted and paged.

    ``params`` are the call's keyword arguments, checked against the operation's input shape as boto3
    checks them; the ``SortBy`` and ``StatusEquals`` values it takes are the service model's. A record has
    ``name``, ``creation_time`` and (where the call filters on them) ``status``, ``last_modified_time``.

    Args:
        operation: The API operation (``ListTrainingJobs``).
        params: The call's keyword arguments (``NameContains``, ``StatusEquals``, time filters, ``SortBy``,
            ``SortOrder``, ``MaxResults``, ``NextToken``).
        records: The resources of the family.
        key: The response key of the summaries (``TrainingJobSummaries``).
        summary: A record's summary in the response.
        model: The service model's checks (:mod:`airflow_tf_sm.sagemaker.service_model`: ``request_errors``,
            ``input_shape``), given by the caller so that this module stays below them.
        max_results: Page size when the call gives no ``MaxResults``.

    Raises:
        botocore.exceptions.ParamValidationError: an argument boto3 refuses (unknown name, wrong type).
        botocore.exceptions.ClientError: ``ValidationException`` for an unknown sort, status, a bad limit or
            token; ``ThrottlingException`` when faults are injected.
    """
    maybe_throttle(operation)
    problems = model.request_errors(params, operation)
    if problems:
        from botocore.exceptions import ParamValidationError

        raise ParamValidationError(report="; ".join(str(problem) for problem in problems))
    unsupported = sorted(set(params) - {*_LIST_ARGUMENTS, *TIME_FILTERS})
    if unsupported:
        message = f"The local backend does not filter on {', '.join(unsupported)}"
        raise client_error("ValidationException", message, operation)
    members = model.input_shape(operation).members
    sorts = members["SortBy"].enum if "SortBy" in members else ["CreationTime"]
    statuses = members["StatusEquals"].enum if "StatusEquals" in members else []
    limit = int(params.get("MaxResults", max_results))
    kept = list_records(
        records,
        operation,
        sort_by=params.get("SortBy", "CreationTime"),
        sort_order=params.get("SortOrder", "Descending"),
        sort_keys={name: SORT_KEYS[name] for name in sorts},
        name_contains=params.get("NameContains"),
        status_equals=params.get("StatusEquals"),
        statuses=statuses,
        times={name: params[name] for name in TIME_FILTERS if name in params},
        max_results=limit,
    )
    return list_page(key, kept, params.get("NextToken"), limit, operation, summary)


def maybe_throttle(operation: str) -> None:
    """Raise ThrottlingException for a fraction of calls, per ``AIRFLOW_TF_SM_LOCAL_FAULTS``.

    The variable reads like ``throttle=0.3,seed=1`` and is read at every call.
    """
    spec = os.environ.get(FAULTS_ENV, "").strip()
    if not spec:
        return
    options: dict[str, str] = {}
    for part in spec.split(","):
        key, _, value = part.partition("=")
        options[key.strip()] = value.strip()
    try:
        rate = float(options.get("throttle", "0") or 0)
    except ValueError:
        return
    if rate <= 0:
        return
    seed = options.get("seed", "")
    with _FAULT_LOCK:
        rng = _FAULT_RNGS.setdefault(seed, random.Random(seed) if seed else random.Random())
        hit = rng.random() < rate
    if hit:
        raise client_error("ThrottlingException", "Rate exceeded", operation)


class StreamingBody:
    """The ``Body`` of a ``get_object`` response: a readable stream like botocore's StreamingBody."""

    def __init__(self, fh: IO[bytes], length: int) -> None:
        self._fh = fh
        self.content_length = length

    def read(self, amt: int | None = None) -> bytes:
        """Read ``amt`` bytes, or everything left when ``amt`` is None."""
        data = self._fh.read() if amt is None else self._fh.read(amt)
        if amt is None or not data:
            self._fh.close()
        return data

    def iter_chunks(self, chunk_size: int = 1024) -> Iterator[bytes]:
        """Yield the content in chunks."""
        while chunk := self.read(chunk_size):
            yield chunk

    def iter_lines(self, chunk_size: int = 1024, keepends: bool = False) -> Iterator[bytes]:
        """Yield the content line by line."""
        yield from self.read().splitlines(keepends)

    def readable(self) -> bool:
        """Return True (file-like protocol)."""
        return True

    def close(self) -> None:
        """Close the underlying file."""
        self._fh.close()

    def __enter__(self) -> StreamingBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
