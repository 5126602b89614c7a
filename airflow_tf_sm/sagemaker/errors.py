"""AWS error codes and what they mean for the package: retry, "does not exist", "already ended"."""

from __future__ import annotations

#: Codes of throttling and server-side errors that are worth retrying.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "InternalError",
    }
)
#: Codes meaning "no such resource" (SageMaker answers most describes with ValidationException, see below).
NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException", "NoSuchKey", "NotFound", "404"})
#: Fragments of SageMaker's ValidationException messages for a resource that does not exist.
NOT_FOUND_MESSAGES = ("requested resource not found", "could not find")
#: Fragment of SageMaker's ValidationException message when a job to stop has already ended.
ALREADY_ENDED_MESSAGE = "is in status"
#: Code of a name that is taken.
IN_USE_CODE = "ResourceInUse"


def error_code(exc: BaseException) -> str | None:
    """Return the AWS error code of a ``ClientError`` (``None`` for other exceptions)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code is not None else None
    return None


def error_message(exc: BaseException) -> str:
    """Return the AWS error message of a ``ClientError`` ("" for other exceptions)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Message") or "")
    return ""


def http_status(exc: BaseException) -> int:
    """Return the HTTP status of a ``ClientError`` (0 when unknown)."""
    response = getattr(exc, "response", None)
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") if isinstance(response, dict) else 0
    return status if isinstance(status, int) else 0


def is_retryable(exc: BaseException) -> bool:
    """Return True for throttling, 5xx and connection errors worth retrying."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    if isinstance(exc, ClientError):
        return error_code(exc) in RETRYABLE_CODES or http_status(exc) >= 500
    return isinstance(exc, ConnectionError | ReadTimeoutError)


def is_not_found(exc: BaseException) -> bool:
    """Return True when a call failed because the resource does not exist.

    Only the not-found codes, or SageMaker's ``ValidationException`` whose message says the resource
    was not found, mean that; any other ``ValidationException`` is a real error.
    """
    code = error_code(exc)
    if code in NOT_FOUND_CODES:
        return True
    return code == "ValidationException" and any(m in error_message(exc).lower() for m in NOT_FOUND_MESSAGES)


def is_already_ended(exc: BaseException) -> bool:
    """Return True when a stop call was refused because the job had already ended."""
    return error_code(exc) == "ValidationException" and ALREADY_ENDED_MESSAGE in error_message(exc).lower()
