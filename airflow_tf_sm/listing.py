"""The job families the shared poller watches, and what it remembers of a listing and of each job.

Each :class:`Family` names the List* call that reports changed jobs (``LastModifiedTimeAfter``, 100 a page,
``SortBy=CreationTime``), the key of its summaries and the service that describes one job. Training jobs,
tuning jobs and batch transform jobs all have such a list call; endpoints are not polled this way.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_tf_sm.sagemaker.resources import TRAINING_JOB, TRANSFORM_JOB, TUNING_JOB, Resource


@dataclass(frozen=True)
class Family:
    """A job family the shared poller can watch.

    Attributes:
        resource: Its facts (name and status keys, statuses, log group).
        list_method: boto3 method listing changed jobs (``list_training_jobs``).
        summaries_key: Key of the summaries in a list page (``TrainingJobSummaries``).
        service: Attribute of the hook whose ``describe(name)`` describes one (``training``).
        logs: Its waiters may stream logs (the family has one log stream per host: ``<job>/<host>-...``).
    """

    resource: Resource
    list_method: str
    summaries_key: str
    service: str
    logs: bool

    @property
    def name(self) -> str:
        """Short name (for the poller registry and messages): ``training``, ``tuning``, ``transform``."""
        return self.service


TRAINING = Family(TRAINING_JOB, "list_training_jobs", "TrainingJobSummaries", "training", logs=True)
TUNING = Family(
    TUNING_JOB, "list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries", "tuning", logs=False
)
TRANSFORM = Family(TRANSFORM_JOB, "list_transform_jobs", "TransformJobSummaries", "transform", logs=True)
#: Family of each resource the shared poller watches.
FAMILIES: dict[str, Family] = {f.resource.name_key: f for f in (TRAINING, TUNING, TRANSFORM)}


def epoch(value: Any) -> float | None:
    """Return a timestamp (datetime, epoch number or ISO text) as epoch seconds; ``None`` if unreadable."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return epoch(datetime.fromisoformat(value))
    return None


@dataclass
class PollerStats:
    """Counters of one poller (client calls are counted once per call, retries inside the hook excluded).

    Attributes:
        ticks: Intervals run.
        list_pages: List* pages read.
        list_failures: Listings cut short by a transient error (the window is listed again).
        describes: Describe* calls.
        safety_net_describes: Describes of jobs the list did not report as changed.
        log_calls: CloudWatch Logs calls of the coalesced log reader (``logfeed.py``).
    """

    ticks: int = 0
    list_pages: int = 0
    list_failures: int = 0
    describes: int = 0
    safety_net_describes: int = 0
    log_calls: int = 0


@dataclass
class Listing:
    """A listing in progress: its window start, its own start (both clocks) and the next page's token."""

    after: float
    started: float
    server_start: float | None = None
    token: str | None = None


@dataclass
class JobState:
    """What the poller knows of one watched job: its last description's time and status."""

    last_modified: float | None = None
    status: str | None = None
    described_at: float = -math.inf
    done: bool = False

    def looks_changed(self, summary: Mapping[str, Any], status_key: str) -> bool:
        """Return True when a list summary is newer than the last description."""
        modified = epoch(summary.get("LastModifiedTime"))
        if self.last_modified is None or modified is None or modified > self.last_modified:
            return True
        status = summary.get(status_key)
        return status is not None and status != self.status
