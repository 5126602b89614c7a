"""Name rules of SageMaker resources, and names derived deterministically from the Airflow task instance.

Training job, model, endpoint config, endpoint and transform job names are 1-63 characters matching
``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$``; tuning job names follow the same pattern with at most 32
characters. Job names can never be reused. Deriving the name from the task instance (instead of a
timestamp) lets a retry find the job an earlier try started rather than paying for a second one.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import NamedTuple

MAX_NAME_LEN = 63
#: Longest tuning job name.
MAX_TUNING_NAME_LEN = 32


def name_pattern(max_len: int = MAX_NAME_LEN) -> re.Pattern[str]:
    """Return the SageMaker name pattern for names of at most ``max_len`` characters."""
    return re.compile(rf"^[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,{max_len - 1}}}$")


NAME_PATTERN: re.Pattern[str] = name_pattern(MAX_NAME_LEN)


def name_rule(max_len: int = MAX_NAME_LEN) -> str:
    """Return the name rule in words, for error messages."""
    return (
        f"must be 1-{max_len} characters: letters, digits and hyphens, starting and ending with a letter or "
        "digit (no '_' or '.')"
    )


_FALLBACK = "job"
_HASH_LEN = 8
_DISALLOWED_RUN = re.compile(r"[^A-Za-z0-9-]+")


def is_valid_name(name: object, max_len: int = MAX_NAME_LEN) -> bool:
    """Tell whether ``name`` is a valid SageMaker resource name.

    Args:
        name: The candidate name.
        max_len: 63 for jobs, models, endpoint configs and endpoints; 32 for tuning jobs.

    Returns:
        True when it is a string of 1-``max_len`` characters matching :func:`name_pattern`.
    """
    return isinstance(name, str) and len(name) <= max_len and NAME_PATTERN.fullmatch(name) is not None


def short_hash(text: str, length: int = _HASH_LEN) -> str:
    """Return the first ``length`` hex characters of the SHA-256 of ``text`` (stable across runs).

    Args:
        text: Any text.
        length: How many hex characters to keep.

    Returns:
        A lowercase hex string.
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _clean(text: str) -> tuple[str, bool]:
    """Transliterate to ASCII and replace disallowed runs by ``-``.

    Returns:
        The cleaned text (possibly empty, possibly too long) and whether the transliteration lost
        information (the text had non-ASCII characters).
    """
    lossy = not text.isascii()
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _DISALLOWED_RUN.sub("-", ascii_text).strip("-"), lossy


def _truncate(text: str, max_len: int) -> str:
    """Cut ``text`` to ``max_len`` characters without leaving a trailing ``-``."""
    return text[:max_len].rstrip("-")


def _with_suffix(base: str, suffix: str, max_len: int) -> str:
    """Join ``base`` and ``suffix`` with ``-``, shortening ``base`` so the result fits ``max_len``."""
    room = max_len - len(suffix) - 1
    base = _truncate(base, room) if room > 0 else ""
    return f"{base}-{suffix}" if base else suffix[:max_len]


def sanitize_name(text: str, max_len: int = MAX_NAME_LEN) -> str:
    """Turn any text into a valid SageMaker name.

    Unicode is NFKD-normalised and transliterated to ASCII where possible (``é`` -> ``e``), every run of
    characters other than letters, digits and ``-`` becomes a single ``-`` and leading/trailing ``-`` are
    stripped. A text that is already a valid name of at most ``max_len`` characters is returned unchanged.

    When the text had to be truncated, or had non-ASCII characters (transliteration loses
    information), a stable 8-hex-character hash of the original text is appended so different texts
    keep different names. When nothing usable is left the fallback ``job`` is used (with the hash
    when the text was not ASCII).

    Args:
        text: Any text (a DAG id, a rendered name template, ...).
        max_len: Maximum length of the result, at most 63 for SageMaker names.

    Returns:
        A string matching :data:`NAME_PATTERN` of at most ``max_len`` characters.

    Raises:
        ValueError: if ``max_len`` is smaller than 1.
    """
    if max_len < 1:
        raise ValueError(f"max_len: {max_len!r} -- must be at least 1")
    cleaned, lossy = _clean(text)
    too_long = len(cleaned) > max_len
    if not (lossy or too_long):
        return cleaned or _FALLBACK[:max_len]
    return _with_suffix(cleaned or _FALLBACK, short_hash(text), max_len)


def task_job_name(
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int = -1,
    *,
    template_name: str | None = None,
    attempt: int = 1,
    max_len: int = MAX_NAME_LEN,
) -> str:
    """Return the SageMaker job name of an Airflow task instance.

    The name is deterministic: every try of the same task instance computes the same name, so a retry
    can find the job an earlier try started. Without ``template_name`` it is
    ``<dag_id>-<task_id>`` (sanitized, shortened to fit) followed by an 8-hex-character hash of
    ``(dag_id, task_id, run_id, map_index)``, which differs between task instances.

    With ``template_name`` (e.g. ``mnist-{{ ds_nodash }}`` already rendered to ``mnist-20250101``) the
    name is the sanitized template itself, so users get the name they asked for; ``-m<map_index>`` is
    appended for mapped tasks. The user is then responsible for making the template unique across
    task instances (SageMaker never reuses a name). A template too long to fit is shortened and gets a
    hash of its text.

    ``attempt`` > 1 appends ``-a<attempt>``: used when the job of an earlier attempt ended Failed or
    Stopped and a new job must be started for the same task instance.

    Args:
        dag_id: The DAG id.
        task_id: The task id.
        run_id: The DAG run id.
        map_index: The map index, -1 for unmapped tasks.
        template_name: Optional rendered name chosen by the user.
        attempt: 1 for the first job of the task instance, 2, 3, ... for replacements.
        max_len: Longest name (63; 32 for tuning jobs).

    Returns:
        A valid name of at most ``max_len`` characters.

    Raises:
        ValueError: if ``attempt`` is smaller than 1.
    """
    if attempt < 1:
        raise ValueError(f"attempt: {attempt!r} -- must be at least 1")
    tail = ""
    if template_name is not None and map_index >= 0:
        tail += f"-m{map_index}"
    if attempt > 1:
        tail += f"-a{attempt}"
    room = max_len - len(tail)
    if template_name is not None:
        return sanitize_name(template_name, max_len=room) + tail
    prefix, _ = _clean(f"{dag_id}-{task_id}")
    ids_hash = short_hash(json.dumps([dag_id, task_id, run_id, map_index]))
    return _with_suffix(prefix or _FALLBACK, ids_hash, room) + tail


class TaskInstanceIds(NamedTuple):
    """What identifies an Airflow task instance: the identity of its jobs (every try computes the same names).

    Attributes:
        dag_id: The DAG id.
        task_id: The task id.
        run_id: The DAG run id.
        map_index: The map index, -1 for unmapped tasks.
    """

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1


def hashed_name(base: str, identity: object, max_len: int = MAX_NAME_LEN) -> str:
    """Return ``<base>-<8 hex hash of identity>``, the base shortened to fit: same identity, same name.

    Args:
        base: Readable part (e.g. the training job name).
        identity: JSON-able value that defines the resource.
        max_len: Longest name.
    """
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return f"{sanitize_name(base, max_len=max_len - _HASH_LEN - 1)}-{short_hash(text)}"
