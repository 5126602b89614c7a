"""The one redaction policy: secret names (Airflow's words and the package's), values by name and by value."""

from __future__ import annotations

import json

import pytest

from airflow_tf_sm.redaction import (
    REDACTED,
    description_secrets,
    looks_secret,
    redact_argv,
    redact_mapping,
    redact_text,
    redact_values,
    secret_values,
)


def test_every_name_on_airflows_sensitive_list_is_secret() -> None:
    from airflow.sdk._shared.secrets_masker.secrets_masker import DEFAULT_SENSITIVE_FIELDS

    assert sorted(name for name in DEFAULT_SENSITIVE_FIELDS if not looks_secret(name)) == []


@pytest.mark.parametrize(
    "name",
    [
        # the names of the issue, which Airflow's masker ignores
        "db_pass",
        "pass",
        "credential",
        "aws_credentials",
        # the package's words, any separator, any case
        "DB-PASS",
        "dbPass",
        "db.pass",
        "db pass",
        "API_KEY",
        "APIKey",
        "x-auth",
        "AUTH",
        "github_token",
        "GITHUB_TOKEN",
        "client_secret",
        "dbpassword",
        "AWS_SECRET_ACCESS_KEY",
        "ssh-key",
        "pwd",
    ],
)
def test_secret_names(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize(
    "name",
    [
        "epochs",
        "learning-rate",
        "tokenizer",
        "max_tokens",
        "monkey",
        "author",
        "num_passes",
        "keyboard",
        "batch_size",
        "model_dir",
        "sagemaker_program",
        "SM_MODEL_DIR",
        "SAGEMAKER_PROGRAM",
        "compass",
    ],
)
def test_ordinary_names(name: str) -> None:
    assert not looks_secret(name)


def test_redact_mapping_by_name_whatever_the_length() -> None:
    assert redact_mapping({"db_pass": "a", "x-auth": '"tok"', "epochs": "3"}) == {
        "db_pass": REDACTED,
        "x-auth": REDACTED,
        "epochs": "3",
    }


def test_secret_values_in_every_form_a_script_or_log_shows() -> None:
    values = secret_values({"db_pass": json.dumps("hunter22"), "pin": "123456", "token": 98765432, "epochs": "300000"})
    assert values == ['"hunter22"', "hunter22", "98765432"]
    # too short to mask in free text (Airflow's masker skips them too), in any form; words found everywhere
    assert secret_values({"db_pass": json.dumps("abc"), "use_auth": "false", "secret": None}) == []


def test_description_secrets_read_hyperparameters_and_environment_only() -> None:
    desc = {
        "HyperParameters": {"db_pass": '"hp-value-1"', "epochs": "3"},
        "Environment": {"API_CREDENTIAL": "env-value-2", "MODE": "fast-mode"},
        "TrainingJobDefinition": {"StaticHyperParameters": {"client_secret": '"nested-3"'}},
        "Tags": [{"Key": "airflow-dag-id", "Value": "my-dag-id"}],
        "OutputDataConfig": {"KmsKeyId": "arn:aws:kms:us-east-1:1:key/abc"},
    }
    assert sorted(description_secrets(desc)) == sorted(
        ['"hp-value-1"', "hp-value-1", "env-value-2", '"nested-3"', "nested-3"]
    )
    # an operator's arguments: the same names, lower case, also inside a config
    args = {"config": {"hyperparameters": {"x_auth": "arg-value-4"}}, "environment": {"DB_TOKEN": "arg-value-5"}}
    assert sorted(description_secrets(args)) == ["arg-value-4", "arg-value-5"]


def test_redact_argv_hides_the_value_of_each_secret_option() -> None:
    argv = ["python", "--", "train.py", "--db_pass", "x", "--epochs", "3", "--api-key=abc", "--note", "db_pass"]
    assert redact_argv(argv) == [
        "python",
        "--",
        "train.py",
        "--db_pass",
        REDACTED,
        "--epochs",
        "3",
        f"--api-key={REDACTED}",
        "--note",
        "db_pass",
    ]


def test_redact_text_and_values_replace_longest_first() -> None:
    assert redact_text("pw=hunter22, again hunter22x", ["hunter22", "hunter22x"]) == "pw=***, again ***"
    payload = {"log_tail": ["saw hunter22"], "n": 3, "nested": {"hunter22": ["a hunter22 b"]}}
    assert redact_values(payload, ["hunter22"]) == {"log_tail": ["saw ***"], "n": 3, "nested": {"***": ["a *** b"]}}
    assert redact_values(payload, []) is payload
