"""The one locked JSON state store of the local backend: jobs, models, endpoint configs, endpoints.

Each record is a directory ``<base>/<name>/`` holding its state file (``<kind>.json``, replaced
atomically, so readers never take a lock), its lock file (``<kind>.lock``, an ``fcntl`` lock every writer
takes) and whatever else the resource keeps there (a job's ``/opt/ml`` directories and logs, an
endpoint's model servers).

A record is created atomically: its directory is built under a temporary name (``.tmp-<name>.<random>``,
locked by its creator while it builds it), the state file written and synced, then renamed into place, so a
name either has a complete record or is free. A crash (or a full disk) during a create leaves at most a
temporary directory, which the next create of that name removes once no live process holds it; a directory
left without its state file (by a crash of an older version, or by hand) does not block the name either: the
next create replaces it. A state file that is truncated, not a JSON object, or not of the record's shape
(its fields and their types, see :class:`Field`) is reported as :class:`CorruptRecordError`, naming the file,
and listings skip it.

This module imports only the standard library (the job runner and the model server load it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

_TMP_PREFIX = ".tmp-"
#: A staging directory still without its lock this long after it was made was left by a crash (seconds).
_UNLOCKED_STAGING_SECONDS = 3600.0


class RecordNotFoundError(Exception):
    """No record of that name."""


class RecordExistsError(Exception):
    """A record of that name exists (resource names are never reused while it does)."""


class CorruptRecordError(Exception):
    """A record's ``state.json`` cannot be read as a JSON object.

    Attributes:
        path: The file.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"corrupt local backend record {path}: {reason} (delete the directory to free the name)")


class Field(NamedTuple):
    """One field of a record's shape.

    Attributes:
        types: The JSON types the value may have (``type(None)`` for null).
        required: Whether the record must have it.
        fields: For an object value: the shape of that object.
        items: For a list value (or an object used as a map): the shape of each of its items.
    """

    types: type | tuple[type, ...]
    required: bool = True
    fields: Mapping[str, Field] | None = None
    items: Mapping[str, Field] | None = None


def shape_problem(data: Mapping[str, Any], shape: Mapping[str, Field], where: str = "") -> str | None:
    """Return the first way ``data`` differs from ``shape`` (a missing field or a value of another type), or None."""
    for key, field in shape.items():
        name = f"{where}{key}"
        if key not in data:
            if field.required:
                return f"the field {name!r} is missing"
            continue
        value = data[key]
        if not isinstance(value, field.types) or (isinstance(value, bool) and bool not in _types(field.types)):
            wanted = " or ".join("null" if t is type(None) else t.__name__ for t in _types(field.types))
            return f"the field {name!r} is {type(value).__name__}, not {wanted}"
        if field.fields is not None and isinstance(value, dict):
            problem = shape_problem(value, field.fields, f"{name}.")
            if problem:
                return problem
        if field.items is not None and isinstance(value, list | dict):
            entries = value.items() if isinstance(value, dict) else enumerate(value)
            for index, item in entries:
                if not isinstance(item, dict):
                    return f"the field {name}[{index!r}] is {type(item).__name__}, not dict"
                problem = shape_problem(item, field.items, f"{name}[{index!r}].")
                if problem:
                    return problem
    return None


def _types(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a synced temp file and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json_object(path: Path) -> dict[str, Any]:
    """Read a JSON object from ``path``.

    Raises:
        FileNotFoundError: no such file.
        CorruptRecordError: the file is not a JSON object.
    """
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise CorruptRecordError(path, f"not UTF-8 text ({exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CorruptRecordError(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CorruptRecordError(path, f"not a JSON object but {type(data).__name__}")
    return data


class StateStore:
    """Records of one kind under ``base``.

    Args:
        base: Directory of the records (created on first create).
        valid_name: Tells whether a name is allowed (it becomes a directory name: it must not escape ``base``).
        kind: Stem of the state and lock files (``job`` -> ``job.json``, ``job.lock``).
        shape: The fields every record has (a ``name`` field must be the record's own name); a record of
            another shape is corrupt.
    """

    def __init__(
        self,
        base: Path,
        valid_name: Callable[[str], bool],
        kind: str = "state",
        shape: Mapping[str, Field] | None = None,
    ) -> None:
        self.base = Path(base)
        self.valid_name = valid_name
        self.state_file = f"{kind}.json"
        self.lock_file = f"{kind}.lock"
        self.shape = shape or {}

    def path(self, name: str) -> Path:
        """Return the directory of a record.

        Raises:
            RecordNotFoundError: for a name that is not allowed (no such record can exist).
        """
        if not isinstance(name, str) or not self.valid_name(name) or name.startswith("."):
            raise RecordNotFoundError(name)
        return self.base / name

    def exists(self, name: str) -> bool:
        """Return whether a complete record of that name exists."""
        try:
            return (self.path(name) / self.state_file).is_file()
        except RecordNotFoundError:
            return False

    def create(self, name: str, state: dict[str, Any], prepare: Callable[[Path], None] | None = None) -> Path:
        """Create a record atomically; ``prepare`` may add files to its directory before it appears.

        Raises:
            RecordExistsError: a complete record of that name exists.
        """
        target = self.path(name)
        self.base.mkdir(parents=True, exist_ok=True)
        if (target / self.state_file).is_file():
            raise RecordExistsError(name)
        self._remove_abandoned_staging()
        staging = Path(tempfile.mkdtemp(dir=self.base, prefix=f"{_TMP_PREFIX}{name}."))
        try:
            # the staging lock tells a later create that this one is alive; it is the record's lock afterwards
            with open(staging / self.lock_file, "a+") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                if prepare is not None:
                    prepare(staging)
                write_json_atomic(staging / self.state_file, state)
                self._move_into_place(staging, target, name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def _remove_abandoned_staging(self) -> None:
        """Remove the staging directories whose creator died (their lock is free)."""
        for path in self.base.glob(f"{_TMP_PREFIX}*"):
            try:
                fd = os.open(path / self.lock_file, os.O_RDWR)
            except FileNotFoundError:
                # no lock yet: being made this very moment, unless its creator died before taking the lock
                with contextlib.suppress(OSError):
                    if time.time() - path.stat().st_mtime > _UNLOCKED_STAGING_SECONDS:
                        shutil.rmtree(path, ignore_errors=True)
                continue
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its creator is alive
            else:
                shutil.rmtree(path, ignore_errors=True)
            finally:
                os.close(fd)

    def _move_into_place(self, staging: Path, target: Path, name: str) -> None:
        for _ in range(3):
            try:
                os.rename(staging, target)  # replaces an empty leftover directory, never a record
                return
            except OSError:
                if (target / self.state_file).is_file():
                    raise RecordExistsError(name) from None
                # an incomplete leftover with files in it: clear it, then try again
                with contextlib.suppress(FileNotFoundError):
                    shutil.rmtree(target)
        raise RecordExistsError(name)

    def load(self, name: str) -> dict[str, Any]:
        """Read a record (no lock needed: the file is replaced atomically).

        Raises:
            RecordNotFoundError: no record of that name.
            CorruptRecordError: its file cannot be read.
        """
        path = self.path(name) / self.state_file
        try:
            data = read_json_object(path)
        except FileNotFoundError:
            raise RecordNotFoundError(name) from None
        problem = shape_problem(data, self.shape)
        if problem is None and "name" in self.shape and data["name"] != name:
            problem = f"it is the record of {data['name']!r}"
        if problem:
            raise CorruptRecordError(path, f"not a {self.state_file} record: {problem}")
        return data

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[dict[str, Any]]:
        """Hold the record's lock and yield it; the record is saved when the block ends cleanly.

        Raises:
            RecordNotFoundError: no record (or it is removed while waiting for the lock).
            CorruptRecordError: its file cannot be read.
        """
        folder = self.path(name)
        self.load(name)
        try:
            lock = open(folder / self.lock_file, "a+")
        except FileNotFoundError:
            raise RecordNotFoundError(name) from None
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                state = self.load(name)
                yield state
                try:
                    write_json_atomic(folder / self.state_file, state)
                except FileNotFoundError:  # removed while this block ran
                    raise RecordNotFoundError(name) from None
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def update(self, name: str, mutate: Callable[[dict[str, Any]], Any]) -> tuple[dict[str, Any], Any]:
        """Apply ``mutate`` to the record under its lock and save it; return the record and what ``mutate`` returned."""
        with self.locked(name) as state:
            result = mutate(state)
        return state, result

    def names(self) -> list[str]:
        """Return the names of all complete records (temporary and incomplete directories left out)."""
        if not self.base.is_dir():
            return []
        return sorted(
            p.name for p in self.base.iterdir() if not p.name.startswith(".") and (p / self.state_file).is_file()
        )

    def records(self, load: Callable[[str], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Return every readable record (``load`` defaults to :meth:`load`); corrupt and vanished ones are skipped."""
        found = []
        for name in self.names():
            try:
                found.append((load or self.load)(name))
            except (RecordNotFoundError, CorruptRecordError):
                continue
        return found

    def remove(self, name: str) -> None:
        """Remove a record's directory under its lock (safe to repeat)."""
        folder = self.path(name)
        try:
            lock = open(folder / self.lock_file, "a+")
        except FileNotFoundError:
            return
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                for attempt in range(5):
                    try:
                        shutil.rmtree(folder)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        if attempt == 4:
                            raise
                        time.sleep(0.1)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def clean_stale_staging(self) -> None:
        """Remove the temporary directories of every create whose process died."""
        if self.base.is_dir():
            self._remove_abandoned_staging()
