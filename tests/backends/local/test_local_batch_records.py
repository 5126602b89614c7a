"""What batch transform does to an object's bytes: records, requests, numbering (pure functions)."""

from __future__ import annotations

import pytest

from airflow_tf_sm.backends.local.records import Processing, RecordError, batches, csv_lines, split_records


def test_lines_are_records_and_blank_lines_are_not() -> None:
    records = split_records(b"a\n\n  \nb\r\nc", "Line")
    assert [(r.data, r.number, r.line) for r in records] == [(b"a", 1, 1), (b"b", 2, 4), (b"c", 3, 5)]
    assert split_records(b"a\nb\n", "None") == [split_records(b"a\nb\n", None)[0]]
    assert len(split_records(b"a\nb\n", None)) == 1


def test_multi_record_requests_are_cut_at_line_ends_and_keep_the_numbering() -> None:
    line = b"x" * 100
    data = b"\n".join([line] * 25_000) + b"\n"  # 2.5 MB: three requests of at most 1 MB
    requests = list(batches(data, "Line", "MultiRecord", 1))
    assert len(requests) == 3
    assert all(len(r.body) <= 1024 * 1024 for r in requests)
    assert b"\n".join(r.body for r in requests).rstrip(b"\n") == data.rstrip(b"\n")  # no byte lost or doubled
    assert [r.first for r in requests] == [
        1,
        1 + requests[0].record_count,
        1 + sum(r.record_count for r in requests[:2]),
    ]
    assert sum(r.record_count for r in requests) == 25_000
    last = requests[-1].records()[-1]
    assert (last.number, last.line) == (25_000, 25_000)


def test_blank_lines_count_as_lines_not_records() -> None:
    (request,) = batches(b"1\n\n2\n\n\n3\n", "Line", "MultiRecord", 6)
    assert request.record_count == 3
    assert [(r.number, r.line) for r in request.records()] == [(1, 1), (2, 3), (3, 6)]
    assert request.where() == "records 1-3"


def test_single_record_requests_and_whole_objects() -> None:
    assert [(r.body, r.first, r.first_line) for r in batches(b"a\n\nb\n", "Line", "SingleRecord", 6)] == [
        (b"a", 1, 1),
        (b"b", 2, 3),
    ]
    assert [r.body for r in batches(b"a\nb\n", None, None, 6)] == [b"a\nb\n"]


@pytest.mark.parametrize(("split", "strategy"), [("Line", "MultiRecord"), ("Line", "SingleRecord"), (None, None)])
def test_a_record_larger_than_the_payload_limit_is_named(split: str | None, strategy: str | None) -> None:
    data = b"ok\n" + b"y" * (1024 * 1024 + 1) + b"\nok\n"
    with pytest.raises(RecordError, match=r"larger than MaxPayloadInMB \(1 MB\)") as err:
        list(batches(data, split, strategy, 1))
    expected = ("record 2 (line 2)") if split == "Line" else "record 1"
    assert err.value.record.where() == expected
    assert len(list(batches(data, split, strategy, 0))) >= 1  # 0: no limit


def test_csv_lines_of_floats_and_of_anything_else() -> None:
    assert csv_lines([[0.5, 1e-07], [2.0, 3.25]]) == ["0.5,1e-07", "2.0,3.25"]
    assert csv_lines([[1, 2], 0.5, {"b": [1.0], "a": "x,y"}]) == ["1,2", "0.5", '"x,y",1.0']


def test_the_tf_serving_body_is_written_per_request() -> None:
    processing = Processing("text/csv", "Line", accept=None, assemble_with="Line")
    assert processing.output({"predictions": [[1.0], [2.0]]}, [], 2) == b'{"predictions": [[1.0], [2.0]]}\n'
    jsonl = Processing("text/csv", "Line", accept="application/jsonlines", assemble_with=None)
    assert jsonl.output({"predictions": [[1.0], [2.0]]}, [], 2) == b"[1.0]\n[2.0]"
