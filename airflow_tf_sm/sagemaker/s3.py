"""The one ``s3://`` parser: every S3 URI of the package (specs, requests, the local object store) is read here."""

from __future__ import annotations

import re

_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]*)(?:/(?P<key>.*))?$", re.DOTALL)
#: S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit.
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BUCKET_RULE = "bucket names are 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"


class S3UriError(ValueError):
    """Text that is not an ``s3://bucket/key`` URI this package can use."""


def _shape_problem(uri: object) -> str | None:
    """Return why ``uri`` is not an ``s3://`` URI with a valid bucket (None when it is one)."""
    if not isinstance(uri, str):
        return "must be an s3://bucket/key URI string"
    match = _S3_URI.match(uri)
    if match is None:
        if uri[:3].lower() == "s3:":
            return "is not an s3://bucket/key URI: it must start with 's3://' (lowercase, two slashes), then the bucket"
        if "://" not in uri or uri.startswith("file://"):
            return (
                "is not an s3://bucket/key URI (it looks like a local path; the local backend keeps s3:// URIs in "
                "its own object store)"
            )
        return "is not an s3://bucket/key URI"
    if not BUCKET_PATTERN.match(match.group("bucket")):
        return f"is not an s3://bucket/key URI: {BUCKET_RULE}"
    return None


def key_problem(key: str) -> str | None:
    """Return why a key cannot be used as an object or prefix key (empty, '.' or '..' segments, NUL)."""
    if "\x00" in key:
        return "keys cannot contain NUL characters"
    segments = key.rstrip("/").split("/") if key else []
    if any(segment in ("", ".", "..") for segment in segments):
        return "keys cannot have empty, '.' or '..' path segments (no '//', '/./' or '/../')"
    return None


def parse_s3_uri(uri: str, *, need_key: bool = False) -> tuple[str, str]:
    """Split ``s3://bucket[/key]`` into bucket and key.

    Args:
        uri: The URI.
        need_key: The URI must name an object (a non-empty key).

    Returns:
        ``(bucket, key)``; the key is ``""`` for ``s3://bucket`` and ``s3://bucket/``.

    Raises:
        S3UriError: not an ``s3://`` URI, an invalid bucket name, a key with empty, ``.`` or ``..``
            segments, or no key when ``need_key``.

    Example:
        >>> parse_s3_uri("s3://my-bucket/data/train.csv")
        ('my-bucket', 'data/train.csv')
    """
    problem = _shape_problem(uri)
    if problem is not None:
        raise S3UriError(f"{uri!r} {problem}")
    match = _S3_URI.match(uri)
    assert match is not None
    bucket, key = match.group("bucket"), match.group("key") or ""
    problem = key_problem(key)
    if problem is not None:
        raise S3UriError(f"{uri!r}: {problem}")
    if need_key and not key.strip("/"):
        raise S3UriError(f"{uri!r} must name an object: s3://bucket/key")
    return bucket, key


def join_s3(prefix: str, *parts: str) -> str:
    """Join ``s3://bucket/prefix`` with key parts, one ``/`` between each."""
    return "/".join([prefix.rstrip("/"), *(part.strip("/") for part in parts)])
