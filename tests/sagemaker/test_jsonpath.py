"""The JSONPath subset of batch transform filters: what each documented operator builds, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_tf_sm.sagemaker.jsonpath import JsonPathLookupError, JsonPathSyntaxError, parse, syntax_problem

ROW = ["id-7", "0.5", "1.5", "2.5"]
RECORD = {"id": 7, "features": [1, 2, 3], "meta": {"a": 1, "b": 2}, "SageMakerOutput": {"predictions": [0.9]}}


@pytest.mark.parametrize(
    ("expression", "value", "expected"),
    [
        ("$", ROW, ROW),
        ("$[1:]", ROW, ["0.5", "1.5", "2.5"]),  # the developer guide's "drop the ID column"
        ("$[:2]", ROW, ["id-7", "0.5"]),
        ("$[1:3]", ROW, ["0.5", "1.5"]),
        ("$[0,-1]", ROW, ["id-7", "2.5"]),  # "the ID and the last column"
        ("$[0]", ROW, "id-7"),
        ("$[-1]", ROW, "2.5"),
        ("$[*]", ROW, ROW),
        ("$.features", RECORD, [1, 2, 3]),
        ("$['features']", RECORD, [1, 2, 3]),
        ('$["id"]', RECORD, 7),
        ("$['id','SageMakerOutput']", RECORD, {"id": 7, "SageMakerOutput": {"predictions": [0.9]}}),
        ("$.meta.['a','b']", RECORD, {"a": 1, "b": 2}),  # the guide's "$.field1.['child1','child2']"
        ("$.meta.*", RECORD, [1, 2]),
        ("$.features[1:]", RECORD, [2, 3]),
        ("$.SageMakerOutput.predictions[0]", RECORD, 0.9),
        ("$[*].x", [{"x": 1}, {"x": 2}], [1, 2]),
        ("$[0, 2]", ROW, ["id-7", "1.5"]),
    ],
)
def test_each_documented_operator_builds_the_selected_value(expression: str, value: Any, expected: Any) -> None:
    assert parse(expression).apply(value) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "features",  # no root
        "$..features",  # recursive descent
        "$[?(@.a > 1)]",  # filter expressions
        "$['a','b'].c",  # children nested after several names
        "$[1:3:2]",  # slice steps
        "$[",
        "$.",
        "$['a",
        "$[0,1:]",  # indexes and a slice together
        "$.a b",
    ],
)
def test_what_the_subset_does_not_have_is_a_syntax_error(expression: str) -> None:
    with pytest.raises(JsonPathSyntaxError):
        parse(expression)
    assert "JSONPath of the subset" in str(syntax_problem(expression))


def test_a_valid_expression_has_no_problem() -> None:
    assert syntax_problem("$[1:]") is None


@pytest.mark.parametrize(
    ("expression", "value", "message"),
    [
        ("$.missing", RECORD, "no key 'missing'"),
        ("$[9]", ROW, "out of range"),
        ("$.features", ROW, "has no named children"),
        ("$[0]", RECORD, "needs an array"),
        ("$.id.*", RECORD, "needs an array or an object"),
    ],
)
def test_a_path_that_does_not_fit_the_record_is_a_lookup_error(expression: str, value: Any, message: str) -> None:
    with pytest.raises(JsonPathLookupError, match=message):
        parse(expression).apply(value)


def test_applying_leaves_the_record_as_it_was() -> None:
    record = {"id": 1, "x": [1, 2, 3]}
    assert parse("$.x[1:]").apply(record) == [2, 3]
    assert parse("$['id','x']").apply(record) == {"id": 1, "x": [1, 2, 3]}
    assert record == {"id": 1, "x": [1, 2, 3]}
