"""The local model server's pieces: TF Serving REST format, model discovery, request handling, HTTP."""

from __future__ import annotations

import http.client
import io
import json
import tarfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fake_models import LinearModel

from airflow_tf_sm.backends.local.serving import (
    LOADER_ENV,
    MAX_PAYLOAD_BYTES,
    InvalidInputError,
    ModelLoadError,
    ServingApp,
    extract_model,
    find_saved_model,
    load_model,
    make_http_server,
    parse_body,
    to_columns,
    to_response,
)


# ---------------------------------------------------------------------------------------------
# REST format
# ---------------------------------------------------------------------------------------------
def test_parse_body_json_and_csv() -> None:
    assert parse_body(b'{"instances": [[1, 2]]}', "application/json") == {"instances": [[1, 2]]}
    assert parse_body(b'{"inputs": [1]}', None) == {"inputs": [1]}
    assert parse_body(b"1,2.5\n\n3,-4\n", "text/csv; charset=utf-8") == {"instances": [[1.0, 2.5], [3.0, -4.0]]}


def test_parse_body_json_lines_and_generic_json_like_the_tfs_container() -> None:
    # JSON Lines: one instance per line (also when sent as application/json)
    assert parse_body(b"[1, 2]\n\n[3, 4]\n", "application/jsonlines") == {"instances": [[1, 2], [3, 4]]}
    assert parse_body(b'{"x": [1]}\n{"x": [2]}', "application/json") == {"instances": [{"x": [1]}, {"x": [2]}]}
    # generic JSON: a list of lists is the instances, any other value one instance
    assert parse_body(b"[[1, 2], [3, 4]]", "application/json") == {"instances": [[1, 2], [3, 4]]}
    assert parse_body(b"[1, 2]", "application/json") == {"instances": [[1, 2]]}
    assert parse_body(b'{"x": [1, 2]}', "application/json") == {"instances": [{"x": [1, 2]}]}


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{not json", "application/json", "JSON Parse error"),
        (b"[1, 2]\n{not json\n", "application/jsonlines", "line 2"),
        (b"1,x\n", "text/csv", "not numeric"),
    ],
)
def test_parse_body_rejects(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_body(body, content_type)


def test_to_columns_row_and_columnar_formats() -> None:
    assert to_columns({"instances": [[1, 2], [3, 4]]}, ["x"]) == ({"x": [[1, 2], [3, 4]]}, True)
    named = {"instances": [{"a": 1, "b": [2]}, {"a": 3, "b": [4]}]}
    assert to_columns(named, ["a", "b"]) == ({"a": [1, 3], "b": [[2], [4]]}, True)
    assert to_columns({"inputs": [[1, 2]]}, ["x"]) == ({"x": [[1, 2]]}, False)
    assert to_columns({"inputs": {"a": [1], "b": [2]}, "signature_name": "serving_default"}, ["a", "b"]) == (
        {"a": [1], "b": [2]},
        False,
    )


@pytest.mark.parametrize(
    ("request_body", "names", "message"),
    [
        ({}, ["x"], "Missing 'inputs' or 'instances'"),
        ({"instances": [[1]], "inputs": [[1]]}, ["x"], "not both"),
        ({"instances": []}, ["x"], "non-empty"),
        ({"instances": [[1]]}, ["a", "b"], "2 inputs"),
        ({"inputs": [[1]]}, ["a", "b"], "2 inputs"),
        ({"instances": [{"a": 1}, {"b": 2}]}, ["a", "b"], "same inputs"),
        ({"instances": [[1]], "signature_name": "other"}, ["x"], '"other" not found'),
    ],
)
def test_to_columns_rejects(request_body: dict[str, Any], names: list[str], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        to_columns(request_body, names)


def test_to_response_shapes() -> None:
    assert to_response({"y": [[1], [2]]}, True) == {"predictions": [[1], [2]]}
    assert to_response({"y": [1, 2], "p": [0.5, 0.25]}, True) == {
        "predictions": [{"p": 0.5, "y": 1}, {"p": 0.25, "y": 2}]
    }
    assert to_response({"y": [[1]]}, False) == {"outputs": [[1]]}
    assert to_response({"y": [1], "p": [2]}, False) == {"outputs": {"p": [2], "y": [1]}}


# ---------------------------------------------------------------------------------------------
# models on disk
# ---------------------------------------------------------------------------------------------
def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"pb")


def test_find_saved_model_takes_the_highest_numeric_version(tmp_path: Path) -> None:
    _touch(tmp_path / "1" / "saved_model.pb")
    _touch(tmp_path / "12" / "saved_model.pb")
    _touch(tmp_path / "99" / "variables" / "x")  # no saved_model.pb: not a version
    _touch(tmp_path / "latest" / "saved_model.pb")  # not numeric
    assert find_saved_model(tmp_path) == tmp_path / "12"


def test_find_saved_model_one_level_down(tmp_path: Path) -> None:
    _touch(tmp_path / "my_model" / "3" / "saved_model.pb")
    assert find_saved_model(tmp_path) == tmp_path / "my_model" / "3"


def test_find_saved_model_reports_what_is_missing(tmp_path: Path) -> None:
    _touch(tmp_path / "saved_model.pb")
    with pytest.raises(ModelLoadError, match="numeric version directory"):
        find_saved_model(tmp_path)


def test_extract_model(tmp_path: Path) -> None:
    def archive(name: str) -> Path:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"ok"))
        path = tmp_path / f"{len(name)}.tar.gz"
        path.write_bytes(buffer.getvalue())
        return path

    extract_model(archive("1/saved_model.pb"), tmp_path / "good")
    assert (tmp_path / "good" / "1" / "saved_model.pb").read_bytes() == b"ok"
    with pytest.raises(ModelLoadError):
        extract_model(archive("../escape.pb"), tmp_path / "bad")
    assert not (tmp_path / "escape.pb").exists()
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ModelLoadError, match="cannot extract"):
        extract_model(tmp_path / "junk.tar.gz", tmp_path / "junk")


def test_load_model_uses_the_configured_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fake.json").write_text(json.dumps({"weights": [2.0], "bias": 1.0}))
    monkeypatch.setenv(LOADER_ENV, "fake_models:load")
    model = load_model(tmp_path)
    assert model.predict({"features": [[3.0]]}) == {"score": [[7.0]]}
    monkeypatch.setenv(LOADER_ENV, "no_such_module:load")
    with pytest.raises(ModelLoadError, match="cannot be imported"):
        load_model(tmp_path)


# ---------------------------------------------------------------------------------------------
# request handling and HTTP
# ---------------------------------------------------------------------------------------------
class _Crashing:
    input_names = ("features",)

    def predict(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")


def test_serving_app_statuses() -> None:
    lines: list[str] = []
    app = ServingApp(log=lines.append)
    assert app.ping()[0] == 503
    assert app.invoke(b'{"instances": [[1]]}', "application/json")[0] == 503
    app.model = LinearModel([1.0, 1.0], 0.0)
    assert app.ping()[0] == 200
    status, body = app.invoke(b'{"instances": [[1, 2]]}', "application/json")
    assert (status, json.loads(body)) == (200, {"predictions": [[3.0]]})
    status, body = app.invoke(b'{"instances": [[1]]}', "application/json")
    assert status == 400 and "2 numbers" in json.loads(body)["error"]
    status, body = app.invoke(b"oops", "application/json")
    assert status == 400 and "JSON Parse error" in json.loads(body)["error"]
    app.model = _Crashing()
    status, body = app.invoke(b'{"instances": [[1]]}', "application/json")
    assert status == 500 and json.loads(body) == {"error": "RuntimeError: boom"}
    assert any("boom" in line for line in lines)


@pytest.fixture
def http_server() -> Iterator[tuple[ServingApp, int]]:
    app = ServingApp()
    server = make_http_server(app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield app, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _call(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.getheader("Content-Type"), answer.read()
    finally:
        conn.close()


def test_http_server_routes(http_server: tuple[ServingApp, int]) -> None:
    app, port = http_server
    assert _call(port, "GET", "/ping")[0] == 503
    app.model = LinearModel([1.0], 0.5)
    status, content_type, _ = _call(port, "GET", "/ping")
    assert (status, content_type) == (200, "application/json")
    status, _, body = _call(port, "POST", "/invocations", b'{"instances": [[2]]}')
    assert (status, json.loads(body)) == (200, {"predictions": [[2.5]]})
    assert _call(port, "POST", "/other", b"{}")[0] == 404
    assert _call(port, "GET", "/invocations")[0] == 405
    too_big = {"Content-Length": str(MAX_PAYLOAD_BYTES + 1)}
    status, _, body = _call(port, "POST", "/invocations", b"", too_big)
    assert status == 413 and "at most" in json.loads(body)["error"]


# ---------------------------------------------------------------------------------------------
# a real SavedModel
# ---------------------------------------------------------------------------------------------
@pytest.mark.tensorflow
def test_tensorflow_model_with_two_inputs_and_outputs(tmp_path: Path) -> None:
    import numpy as np
    import tensorflow as tf

    from airflow_tf_sm.backends.local.serving import TensorFlowModel

    class TwoWay(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a"), tf.TensorSpec([None], tf.int64, name="b")]
        )
        def __call__(self, a: Any, b: Any) -> dict[str, Any]:
            return {"total": tf.reduce_sum(a, axis=1), "label": tf.strings.as_string(b)}

    module = TwoWay()
    tf.saved_model.save(module, str(tmp_path / "5"), signatures={"serving_default": module.__call__})
    model = TensorFlowModel(find_saved_model(tmp_path))
    assert list(model.input_names) == ["a", "b"]
    app = ServingApp()
    app.model = model
    status, body = app.invoke(
        json.dumps({"instances": [{"a": [1, 2], "b": 7}, {"a": [0.5, 0], "b": 8}]}).encode(), None
    )
    assert status == 200, body
    assert json.loads(body) == {"predictions": [{"label": "7", "total": 3.0}, {"label": "8", "total": 0.5}]}
    status, body = app.invoke(json.dumps({"inputs": {"a": [[1, 1]], "b": [1]}}).encode(), None)
    assert (status, json.loads(body)) == (200, {"outputs": {"label": ["1"], "total": [2.0]}})
    for bad in (
        {"inputs": {"a": [[1, 1, 1]], "b": [1]}},
        {"inputs": {"a": [[1, 1]]}},
        {"inputs": {"a": "x", "b": [1]}},
    ):
        status, body = app.invoke(json.dumps(bad).encode(), None)
        assert status == 400, body
    np.testing.assert_allclose(model.predict({"a": [[0.25, 0.5]], "b": [0]})["total"], [0.75])

    (tmp_path / "broken" / "1").mkdir(parents=True)
    (tmp_path / "broken" / "1" / "saved_model.pb").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="cannot load the SavedModel"):
        TensorFlowModel(tmp_path / "broken" / "1")
