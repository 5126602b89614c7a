"""The one redaction policy: which names hold secrets, and what logs, events and XCom show of them.

Standard library only (the local job runner uses it too); Airflow's secrets masker is reached lazily.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: What every redacted value is shown as.
REDACTED = "***"
_SECRET_NAME = re.compile(r"(pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key|credential)", re.I)


def looks_secret(name: str) -> bool:
    """Return True when a hyperparameter or variable name looks like it holds a secret."""
    return bool(_SECRET_NAME.search(str(name)))


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy with the values of secret-looking keys replaced by ``***``."""
    return {k: (REDACTED if looks_secret(k) else v) for k, v in values.items()}


def secret_values(*mappings: Mapping[str, Any]) -> list[str]:
    """Return the non-empty values of the secret-looking keys of ``mappings`` (as text)."""
    found: list[str] = []
    for mapping in mappings:
        for key, value in mapping.items():
            if looks_secret(key) and value not in (None, ""):
                found.append(str(value))
    return found


def register_with_masker(values: Iterable[str]) -> None:
    """Register values with Airflow's secrets masker, so task and trigger logs show ``***`` instead."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - outside Airflow
        return
    for value in values:
        mask_secret(value)
