"""The one redaction policy: which names hold secrets, and what logs, events, XCom and rendered fields show of them.

A name holds a secret when one of its words (split at any separator -- ``_``, ``-``, ``.``, spaces -- and at
camelCase boundaries, case-insensitive) is one of :data:`SECRET_WORDS` (Airflow's sensitive field names
plus password, passwd, pass, secret, token, key, credential, auth), or when the name written without
separators contains one of :data:`SECRET_FRAGMENTS` (``dbpassword``, ``awscredentials``, ``apikey``...).
So ``db_pass``, ``DB-PASS``, ``dbPass``, ``aws_credentials``, ``API_KEY`` and ``x-auth`` hold secrets;
``tokenizer``, ``max_tokens``, ``monkey``, ``author`` and ``num_passes`` do not. The values of ``environment``
entries are judged by their names the same way.

Values are redacted two ways: by name (a mapping's secret-named entries, ``--db_pass <value>`` in a command
line) whatever their length, and by value in free text (log lines, failure reasons, event payloads), for
values of at least :data:`MIN_VALUE_LENGTH` characters -- Airflow's own masker ignores shorter ones too, as
replacing ``abc`` everywhere would garble every log. The same values are registered with Airflow's secrets
masker by value (``mask_secret(value)``; with a name, Airflow masks only names on its own list).

Standard library only (the local job runner uses it too); Airflow's masker is reached lazily.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: What every redacted value is shown as.
REDACTED = "***"
#: Shortest value redacted by value in free text (Airflow's ``[logging] min_length_masked_secret`` default).
MIN_VALUE_LENGTH = 5
#: Words that make a name secret: Airflow's sensitive field names (``DEFAULT_SENSITIVE_FIELDS``, one word
#: each) and the package's own.
SECRET_WORDS = frozenset(
    {
        # Airflow's one-word sensitive names
        "apikey",
        "authorization",
        "bearer",
        "dsn",
        "passphrase",
        "passwd",
        "password",
        "proxy",
        "proxies",
        "secret",
        "token",
        # the package's
        "pass",
        "pwd",
        "passwords",
        "secrets",
        "key",
        "keys",
        "credential",
        "credentials",
        "creds",
        "auth",
    }
)
#: Text that makes a name secret wherever it appears in the name written without separators: the long words
#: above, and Airflow's multi-word sensitive names (``access_key``, ``connection_string``, ...).
SECRET_FRAGMENTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "credential",
    "apikey",
    "accesskey",
    "accesstoken",
    "authheader",
    "authtoken",
    "connectionstring",
    "privatekey",
    "serviceaccount",
    "servicekey",
    "keyfile",
    "webhookurl",
)
#: Secret values never redacted by value: they are everywhere in logs (``use_auth: false``).
_HARMLESS_VALUES = frozenset({"true", "false", "none", "null", "airflow"})
#: Keys of API descriptions and requests whose mapping values are judged by name.
NAMED_VALUE_KEYS = ("HyperParameters", "StaticHyperParameters", "Environment", "env")  # env: the transform argument
_NAMED_KEYS = frozenset(key.lower() for key in NAMED_VALUE_KEYS)

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")


def name_words(name: str) -> list[str]:
    """Return the lowercase words of a name: split at every non-alphanumeric character and at camelCase."""
    return [word.lower() for part in _SEPARATORS.split(str(name)) for word in _WORD.findall(part)]


def looks_secret(name: object) -> bool:
    """Return True when a hyperparameter, variable or field name looks like it holds a secret."""
    text = str(name)
    if any(word in SECRET_WORDS for word in name_words(text)):
        return True
    compact = _SEPARATORS.sub("", text).lower()
    return any(fragment in compact for fragment in SECRET_FRAGMENTS)


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy with the values of secret-looking keys replaced by ``***``."""
    return {k: (REDACTED if looks_secret(k) else v) for k, v in values.items()}


def _forms(value: Any) -> list[str]:
    """Return the texts a secret value shows up as: itself and, for JSON text, what it decodes to.

    SageMaker hyperparameters travel JSON-encoded (the text ``"s3cr3t"`` with its quotes); the script gets s3cr3t.
    """
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [form for item in value.values() for form in _forms(item)]
    if isinstance(value, list | tuple):
        return [form for item in value for form in _forms(item)]
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, bool) else str(value)
    forms = [text]
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            decoded = None
        if decoded is not None and not isinstance(decoded, bool):
            forms.extend(f for f in _forms(decoded) if f != text)
    return forms


def _usable(value: str) -> bool:
    return len(value) >= MIN_VALUE_LENGTH and value.lower() not in _HARMLESS_VALUES


def secret_values(*mappings: Mapping[str, Any] | None) -> list[str]:
    """Return the texts of the secret-named entries of ``mappings`` worth redacting by value.

    Each value is given as written and, for JSON text, decoded (the form a training script sees);
    values shorter than :data:`MIN_VALUE_LENGTH` and words like ``true`` are left out.
    """
    found: list[str] = []
    for mapping in mappings:
        if not isinstance(mapping, Mapping):
            continue
        for key, value in mapping.items():
            forms = _forms(value) if looks_secret(key) else []
            if forms and all(_usable(form) for form in forms):  # '"abc"' is as short a secret as abc
                found.extend(form for form in forms if form not in found)
    return found


def description_secrets(document: Any) -> list[str]:
    """Return the secret values of every ``HyperParameters`` / ``Environment`` mapping in a document.

    Works on any SageMaker request or Describe* response (nested ones too, e.g. a tuning job's
    ``TrainingJobDefinition.StaticHyperParameters``) and on an operator's arguments (``hyperparameters``,
    ``environment``, a ``config`` holding them); keys match case-insensitively. Other mappings are not
    judged by name (``Tags`` ``{"Key": ...}``, ``KmsKeyId`` hold no secret).
    """
    found: list[str] = []
    stack: list[Any] = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            for key, value in item.items():
                if str(key).lower() in _NAMED_KEYS and isinstance(value, Mapping):
                    found.extend(v for v in secret_values(value) if v not in found)
                elif isinstance(value, Mapping | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def redact_text(text: str, values: Iterable[str]) -> str:
    """Return ``text`` with every occurrence of ``values`` (longest first) replaced by ``***``."""
    for value in sorted({v for v in values if v}, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_values(document: Any, values: Sequence[str]) -> Any:
    """Return a copy of a JSON-like ``document`` with ``values`` replaced by ``***`` in every string.

    Mapping keys are redacted too; non-string leaves are kept. Used on every trigger event payload.
    """
    if not values:
        return document
    if isinstance(document, str):
        return redact_text(document, values)
    if isinstance(document, Mapping):
        return {redact_values(k, values): redact_values(v, values) for k, v in document.items()}
    if isinstance(document, list | tuple):
        return [redact_values(item, values) for item in document]
    return document


def redact_argv(argv: Sequence[str]) -> list[str]:
    """Return a command line with the value after each secret-named ``--option`` replaced by ``***``.

    ``--db_pass s3cr3t`` and ``--db_pass=s3cr3t`` both become ``--db_pass ***``-style text, whatever the
    value's length (the script's hyperparameters as the SageMaker toolkit passes them).
    """
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("-") and len(arg) > 1:
            option, equals, _value = arg.lstrip("-").partition("=")
            if looks_secret(option):
                if equals:
                    shown.append(f"{arg.split('=', 1)[0]}={REDACTED}")
                    continue
                hide_next = True
        shown.append(arg)
    return shown


def register_with_masker(values: Iterable[str]) -> None:
    """Register values with Airflow's secrets masker (by value), so task and trigger logs show ``***`` instead.

    Call it from a worker thread or a task, never from a trigger's event loop (Airflow forwards each value
    to its supervisor with a blocking call).
    """
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - outside Airflow
        return
    for value in values:
        mask_secret(value)
