"""What batch transform does to the bytes of an input object, as pure functions: records, mini-batches, output.

An object is cut into records (``SplitType`` ``None``: the whole object; ``Line``: each non-blank line),
records are grouped into requests (``BatchStrategy`` and ``MaxPayloadInMB``), each request's response is
rendered per ``Accept`` and the requests' outputs are assembled (``AssembleWith``). With data processing
(``InputFilter``, ``JoinSource``, ``OutputFilter``) each record is read as CSV (a JSON array of its cells) or
JSON, filtered with the JSONPath subset of :mod:`airflow_tf_sm.sagemaker.jsonpath` before the model sees it,
and joined with its own prediction afterwards (CSV: the prediction's cells appended; JSON: the prediction
under ``SageMakerOutput``, a non-object input under ``SageMakerInput``).

Rendering of the model's answers (the TF Serving body ``{"predictions": [...]}`` of each request):

* ``Accept: application/json`` (or none): the response body as the container answers it, one per request;
* ``Accept: text/csv``: one line per prediction, its values comma-separated;
* ``Accept: application/jsonlines``: one line per prediction, as JSON.

This module imports only the standard library and the package's standard-library facts (the worker loads it).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from airflow_tf_sm.sagemaker.jsonpath import JsonPath, JsonPathLookupError, parse
from airflow_tf_sm.sagemaker.transform import (
    CSV,
    DEFAULT_FILTER,
    JOIN_INPUT_KEY,
    JOIN_OUTPUT_KEY,
    JSON,
    JSON_LINES,
    media_type,
)

#: Accept values the local engine renders, and the input content types it reads.
ACCEPT_TYPES = (JSON, CSV, JSON_LINES)
CONTENT_TYPES = (JSON, CSV, JSON_LINES)
_MB = 1024 * 1024


class RecordError(ValueError):
    """A record the job cannot process (the object then fails, naming the record).

    Attributes:
        record: The record.
    """

    def __init__(self, record: Record, message: str) -> None:
        self.record = record
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.record, str(self)))


class Record(NamedTuple):
    """One record of an input object (a tuple: an object has as many of them as it has lines).

    Attributes:
        data: Its bytes (without the line end).
        number: 1-based position among the object's records.
        line: 1-based line of the object it starts on (``SplitType`` ``Line``; None for a whole object).
    """

    data: bytes
    number: int
    line: int | None = None

    def where(self) -> str:
        """Say which record this is (``record 3 (line 4)``)."""
        return f"record {self.number}" + (f" (line {self.line})" if self.line is not None else "")


def split_records(data: bytes, split_type: str | None, first: int = 1, first_line: int = 1) -> list[Record]:
    """Cut bytes into records: ``None`` -> one record; ``Line`` -> each non-blank line, in order.

    ``first`` and ``first_line`` number the records of a part of an object from where that part starts.
    """
    if split_type != "Line":
        return [Record(data, first)]
    records: list[Record] = []
    for index, line in enumerate(data.split(b"\n"), start=first_line):
        line = line.rstrip(b"\r")
        if line.strip():
            records.append(Record(line, first + len(records), index))
    return records


class Batch(NamedTuple):
    """The records of one request, as the request's body (records are cut out of it only when needed).

    Attributes:
        body: The request body: the records' bytes (lines of the object, for ``SplitType`` ``Line``).
        split_type: How the body is cut into records.
        first: Number of its first record within the object.
        first_line: Line of the object its body starts on.
        record_count: How many records it holds.
    """

    body: bytes
    split_type: str | None
    first: int = 1
    first_line: int = 1
    record_count: int = 1

    def records(self) -> list[Record]:
        """Return the records of the request."""
        return split_records(self.body, self.split_type, self.first, self.first_line)

    def where(self) -> str:
        """Say which records the request holds (``records 1-500``)."""
        records = self.records()
        return f"records {records[0].number}-{records[-1].number}" if records else "no records"


def _too_large(record: Record, max_payload_mb: int) -> RecordError:
    return RecordError(record, f"{len(record.data)} bytes: larger than MaxPayloadInMB ({max_payload_mb} MB) on its own")


def batches(data: bytes, split_type: str | None, strategy: str | None, max_payload_mb: int) -> Iterator[Batch]:
    """Group an object's records into requests: one each (``SingleRecord``, the default) or as many as fit.

    ``MultiRecord`` requests are cut at line ends so that each holds at most ``max_payload_mb`` MB (0: no
    limit), without reading the lines one by one: a request's body is a slice of the object.

    Raises:
        RecordError: a record larger than the payload limit on its own.
    """
    limit = max_payload_mb * _MB
    if split_type != "Line":
        if limit and len(data) > limit:
            raise _too_large(Record(data, 1), max_payload_mb)
        yield Batch(data, split_type)
        return
    if strategy != "MultiRecord":
        for record in split_records(data, "Line"):
            if limit and len(record.data) > limit:
                raise _too_large(record, max_payload_mb)
            yield Batch(record.data, "Line", record.number, record.line or 1, 1)
        return
    pos, first, line = 0, 1, 1
    while pos < len(data):
        if not limit or len(data) - pos <= limit:
            cut = len(data)
        else:
            cut = data.rfind(b"\n", pos, pos + limit + 1)
            if cut < pos:  # no line end within the limit: the line at pos alone is too large
                end = data.find(b"\n", pos)
                long_line = split_records(data[pos : len(data) if end < 0 else end], "Line", first, line)
                if long_line:
                    raise _too_large(long_line[0], max_payload_mb)
                cut = len(data) if end < 0 else end  # a blank line: skip it
        body = data[pos:cut]
        count = sum(1 for part in body.split(b"\n") if part.strip())
        if count:
            yield Batch(body, "Line", first, line, count)
        first += count
        line += body.count(b"\n") + 1
        pos = cut + 1


def payload(records: Sequence[Record]) -> bytes:
    """Return the body of a request holding ``records``."""
    return records[0].data if len(records) == 1 else b"\n".join(record.data for record in records)


def _filter(text: str | None) -> JsonPath | None:
    return parse(text) if text and text.strip() != DEFAULT_FILTER else None


@dataclass
class Unit:
    """What filters and joins act on: a CSV row, a JSON line, or a whole JSON document.

    Attributes:
        record: The record it belongs to.
        value: The row's cells (CSV) or the JSON value.
        document: A whole JSON document (it gets the whole response), not one instance.
    """

    record: Record
    value: Any
    document: bool = False


class Processing:
    """How one job turns records into requests and responses into output bytes.

    Args:
        content_type: ``TransformInput.ContentType`` (None: JSON).
        split_type: ``TransformInput.SplitType``: with ``Line`` every JSON record is one instance; with
            ``None`` a JSON object is one document (it is joined with the whole response).
        accept: ``TransformOutput.Accept`` (None: JSON).
        assemble_with: ``TransformOutput.AssembleWith``.
        input_filter: ``DataProcessing.InputFilter``.
        output_filter: ``DataProcessing.OutputFilter``.
        join_source: ``DataProcessing.JoinSource``.
    """

    def __init__(
        self,
        content_type: str | None = None,
        split_type: str | None = None,
        accept: str | None = None,
        assemble_with: str | None = None,
        input_filter: str | None = None,
        output_filter: str | None = None,
        join_source: str | None = None,
    ) -> None:
        self.content_type = media_type(content_type) or JSON
        self.documents = split_type != "Line"
        self.accept = media_type(accept) or JSON
        self.separator = b"\n" if assemble_with == "Line" else b""
        self.input_filter = _filter(input_filter)
        self.output_filter = _filter(output_filter)
        self.join = join_source == "Input"

    @property
    def per_unit(self) -> bool:
        """True when records are read one by one (a filter or a join), not passed through as bytes."""
        return bool(self.input_filter or self.output_filter or self.join)

    # -- requests ------------------------------------------------------------------------------
    def units(self, record: Record) -> list[Unit]:
        """Read a record as CSV rows, JSON lines or one JSON document.

        Raises:
            RecordError: the record is not UTF-8, not CSV or not JSON.
        """
        try:
            text = record.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordError(record, f"not UTF-8 text: {exc}") from None
        if self.content_type == CSV:
            try:
                return [Unit(record, row) for row in csv.reader(io.StringIO(text)) if row]
            except csv.Error as exc:
                raise RecordError(record, f"not CSV: {exc}") from None
        if self.content_type == JSON and self.documents:
            try:
                return [Unit(record, json.loads(text), document=True)]
            except ValueError:
                pass  # JSON Lines sent as application/json
        values = []
        for offset, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                values.append(Unit(record, json.loads(line)))
            except ValueError as exc:
                where = f" on line {offset + 1} of the record" if offset else ""
                raise RecordError(record, f"not JSON{where}: {exc}") from None
        return values

    def request(self, records: Sequence[Record]) -> tuple[bytes, list[Unit]]:
        """Return the body of the request for ``records`` (after the input filter) and the units read.

        Without data processing the body is the records' bytes and no unit is read.

        Raises:
            RecordError: a record that cannot be read or does not fit the input filter.
        """
        if not self.per_unit:
            return payload(records), []
        units = [unit for record in records for unit in self.units(record)]
        lines = []
        for unit in units:
            value = unit.value
            if self.input_filter is not None:
                try:
                    value = self.input_filter.apply(value)
                except JsonPathLookupError as exc:
                    raise RecordError(unit.record, f"InputFilter {exc}") from None
            lines.append(self.encode(value))
        return "\n".join(lines).encode("utf-8"), units

    def encode(self, value: Any) -> str:
        """Write one value in the input's format: CSV cells, or JSON."""
        if self.content_type == CSV:
            return csv_line(cells(value))
        return json.dumps(value)

    # -- responses -----------------------------------------------------------------------------
    def output(self, response: dict[str, Any], units: Sequence[Unit], count: int) -> bytes:
        """Render one request's TF Serving response (``{"predictions": [...]}``) as output bytes.

        Args:
            response: The response body.
            units: The units read for the request (empty without data processing).
            count: How many records the request held.

        Raises:
            RecordError: the answer does not fit the records (count mismatch, an output filter that does not fit).
        """
        predictions = response.get("predictions", response.get("outputs"))
        if self.join:
            return self._joined(response, predictions, units)
        if self.accept == JSON:
            return json.dumps(self._out(response, units)).encode("utf-8") + self.separator
        if not isinstance(predictions, list):
            raise ValueError(f"the model's answer has no list of predictions: {str(response)[:200]}")
        if self.accept == CSV:
            lines = csv_lines([self._out(p, units) for p in predictions] if self.output_filter else predictions)
        else:
            lines = [json.dumps(self._out(p, units)) for p in predictions]
        return "\n".join(lines).encode("utf-8") + self.separator

    def _out(self, value: Any, units: Sequence[Unit]) -> Any:
        if self.output_filter is None:
            return value
        try:
            return self.output_filter.apply(value)
        except JsonPathLookupError as exc:
            raise RecordError(units[0].record if units else Record(b"", 1), f"OutputFilter {exc}") from None

    def _joined(self, response: dict[str, Any], predictions: Any, units: Sequence[Unit]) -> bytes:
        instances = [unit for unit in units if not unit.document]
        if instances and (not isinstance(predictions, list) or len(predictions) != len(instances)):
            have = len(predictions) if isinstance(predictions, list) else "no list of"
            raise RecordError(
                instances[0].record, f"the model answered {have} predictions for {len(instances)} records"
            )
        lines = []
        answers = iter(predictions if instances else [])
        for unit in units:
            prediction = response if unit.document else next(answers)
            if self.content_type == CSV:
                joined: Any = [*unit.value, *cells(prediction)]
            elif isinstance(unit.value, dict):
                joined = {**unit.value, JOIN_OUTPUT_KEY: prediction}
            else:
                joined = {JOIN_INPUT_KEY: unit.value, JOIN_OUTPUT_KEY: prediction}
            if self.output_filter is not None:
                try:
                    joined = self.output_filter.apply(joined)
                except JsonPathLookupError as exc:
                    raise RecordError(unit.record, f"OutputFilter {exc}") from None
            lines.append(self.encode(joined))
        return "\n".join(lines).encode("utf-8") + self.separator


def csv_lines(values: Sequence[Any]) -> list[str]:
    """Write each prediction as one CSV line: its numbers (a fast path for rows of floats), else its cells."""
    try:
        return [",".join(map(float.__repr__, value)) for value in values]
    except TypeError:  # not every prediction is a row of floats
        return [csv_line(cells(value)) for value in values]


def csv_line(row: Sequence[str]) -> str:
    """Write cells as one CSV line (quoted only where a cell needs it)."""
    if not any(("," in cell or '"' in cell or "\n" in cell or "\r" in cell) for cell in row):
        return ",".join(row)
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


def cells(value: Any) -> list[str]:
    """Return a value as CSV cells: a list's items (nested lists flattened), an object's values by key, a scalar."""
    if isinstance(value, dict):
        return [cell for key in sorted(value) for cell in cells(value[key])]
    if isinstance(value, list | tuple):
        return [cell for item in value for cell in cells(item)]
    if isinstance(value, str):
        return [value]
    return [json.dumps(value)]
