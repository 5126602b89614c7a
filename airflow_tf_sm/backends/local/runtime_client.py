"""The SageMaker Runtime API of the local backend: ``invoke_endpoint`` over real HTTP to the model server.

Example:
    >>> runtime = LocalRuntimeClient("/tmp/airflow_tf_sm-doc")  # doctest: +SKIP
    >>> out = runtime.invoke_endpoint(EndpointName="my-endpoint", Body=b'{"instances": [[0, 1]]}')  # doctest: +SKIP
    >>> json.loads(out["Body"].read())["predictions"]  # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from airflow_tf_sm.backends.local.hosting import (
    ENDPOINT_LOG_GROUP,
    CorruptRecordError,
    EndpointNotFoundError,
    HostingStore,
)
from airflow_tf_sm.backends.local.wire import (
    StreamingBody,
    client_error,
    corrupt_record_error,
    maybe_throttle,
    metadata,
)
from airflow_tf_sm.sagemaker.resources import LOCAL_ACCOUNT_ID as ACCOUNT_ID

INVOCATION_TIMEOUT = 60.0  # SageMaker's real-time invocation timeout
_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


class LocalRuntimeClient:
    """``invoke_endpoint`` against the local model servers, boto3 ``sagemaker-runtime`` style.

    Args:
        root: The local backend root directory.
        region: Region reported by ``meta.region_name`` and in error messages.
        timeout: Seconds to wait for the model server's answer.
    """

    def __init__(
        self, root: str | os.PathLike[str], region: str = "us-east-1", *, timeout: float = INVOCATION_TIMEOUT
    ) -> None:
        self.root = Path(root)
        self.region = region
        self.timeout = timeout
        self.hosting = HostingStore(self.root)
        self.meta = SimpleNamespace(region_name=region)

    def _model_error(
        self, name: str, message: str, status: int | None = None, original: str | None = None
    ) -> Exception:
        """Build the ``ModelError`` ClientError (HTTP 424) with the container's status and message."""
        from botocore.exceptions import ClientError

        response: dict[str, Any] = {
            "Error": {"Code": "ModelError", "Message": message},
            "ResponseMetadata": metadata(424),
        }
        if status is not None:
            response["OriginalStatusCode"] = status
            response["OriginalMessage"] = original or ""
        response["LogStreamArn"] = f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:{ENDPOINT_LOG_GROUP}/{name}"
        return ClientError(response, "InvokeEndpoint")  # type: ignore[arg-type]

    def _serving(self, name: str) -> tuple[int, str]:
        """Return the port and variant name of the server answering for an endpoint.

        Raises:
            botocore.exceptions.ClientError: ``ValidationError`` when the endpoint is unknown or not serving.
        """
        not_found = client_error(
            "ValidationError", f"Endpoint {name} of account {ACCOUNT_ID} not found.", "InvokeEndpoint"
        )
        try:
            state = self.hosting.refresh_endpoint(name)
        except EndpointNotFoundError:
            raise not_found from None
        except CorruptRecordError as exc:
            raise corrupt_record_error(exc, "InvokeEndpoint", "ValidationError") from None
        server = (state.get("servers") or {}).get(state.get("current")) or {}
        if state["status"] not in ("InService", "Updating") or not server.get("ready") or not server.get("port"):
            raise not_found
        return int(server["port"]), str(server["variant"]["VariantName"])

    def invoke_endpoint(
        self,
        *,
        EndpointName: str,
        Body: bytes | str | IO[bytes],
        ContentType: str = "application/json",
        Accept: str = "application/json",
        CustomAttributes: str | None = None,
        TargetModel: str | None = None,
        TargetVariant: str | None = None,
        TargetContainerHostname: str | None = None,
        InferenceId: str | None = None,
        EnableExplanations: str | None = None,
        InferenceComponentName: str | None = None,
        SessionId: str | None = None,
    ) -> dict[str, Any]:
        """POST ``Body`` to the endpoint's ``/invocations`` over HTTP and return the answer.

        Returns:
            ``{"Body", "ContentType", "InvokedProductionVariant", "ResponseMetadata"}``; ``Body`` is a stream
            with ``read()``, like botocore's ``StreamingBody``.

        Raises:
            botocore.exceptions.ClientError: ``ValidationError`` "Endpoint <name> of account <id> not found."
                for an unknown endpoint or one that is not serving, ``ModelError`` (HTTP 424) when the
                model server answers 4xx/5xx or does not answer in time.
        """
        op = "InvokeEndpoint"
        maybe_throttle(op)
        port, variant = self._serving(EndpointName)
        if TargetVariant is not None and TargetVariant != variant:
            raise client_error("ValidationError", f"Variant {TargetVariant} not found for endpoint {EndpointName}.", op)
        if isinstance(Body, str):
            data = Body.encode("utf-8")
        elif isinstance(Body, bytes | bytearray):
            data = bytes(Body)
        else:
            data = Body.read()
        if len(data) > _MAX_PAYLOAD_BYTES:
            raise client_error("ValidationError", "Request payload size exceeds the 6 MB limit.", op)
        headers = {"Content-Type": ContentType, "Accept": Accept}
        if CustomAttributes:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = CustomAttributes
        timed_out = "Your invocation timed out while waiting for a response from container primary."
        for attempt in (1, 2):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations", data=data, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    payload = answer.read()
                    content_type = answer.headers.get("Content-Type", Accept)
                break
            except urllib.error.HTTPError as exc:
                text = exc.read().decode("utf-8", errors="replace")
                kind = "client" if exc.code < 500 else "server"
                message = (
                    f'Received {kind} error ({exc.code}) from primary with message "{text}". See '
                    f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
                    f"#logEventViewer:group={ENDPOINT_LOG_GROUP}/{EndpointName} in account {ACCOUNT_ID} "
                    "for more information."
                )
                raise self._model_error(EndpointName, message, exc.code, text) from None
            except TimeoutError:
                raise self._model_error(EndpointName, timed_out) from None
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, TimeoutError):
                    raise self._model_error(EndpointName, timed_out) from None
                # an update may have switched the endpoint to a new server meanwhile: look again once
                # (this also marks the endpoint Failed when its server died)
                port_before, (port, variant) = port, self._serving(EndpointName)
                if attempt == 2 or port == port_before:
                    raise self._model_error(EndpointName, f"The model server is unreachable: {exc.reason}") from None
        return {
            "Body": StreamingBody(io.BytesIO(payload), len(payload)),
            "ContentType": content_type,
            "InvokedProductionVariant": variant,
            "ResponseMetadata": metadata(),
        }
