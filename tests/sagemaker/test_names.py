from __future__ import annotations

import random
import re

import pytest

from airflow_tf_sm.sagemaker.names import (
    NAME_PATTERN,
    is_valid_name,
    sanitize_name,
    short_hash,
    task_job_name,
)
from airflow_tf_sm.sagemaker.tags import TAG_PREFIX, job_tags

# characters that stress the rules: disallowed ASCII, hyphens, accents, CJK, emoji, compatibility forms
_ALPHABET = "abcXYZ019-_. /:+@#~é€ßøÅ日本ﬁ①😀\t"


def _random_text(rng: random.Random, max_len: int = 120) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, max_len)))


def _random_ids(rng: random.Random) -> tuple[str, str, str, int]:
    return (_random_text(rng, 250), _random_text(rng, 250), _random_text(rng, 250), rng.randint(-1, 2000))


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a", True),
        ("train-2025-01-01", True),
        ("a--b", True),
        ("A1" * 31 + "x", True),  # 63 chars
        ("A1" * 32, False),  # 64 chars
        ("", False),
        ("-a", False),
        ("a-", False),
        ("a_b", False),
        ("a.b", False),
        ("a b", False),
        ("abc\n", False),
        ("é", False),
    ],
)
def test_is_valid_name(name: str, valid: bool) -> None:
    assert is_valid_name(name) is valid


def test_is_valid_name_rejects_non_strings() -> None:
    assert is_valid_name(None) is False
    assert is_valid_name(123) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my_dag.v2 train", "my-dag-v2-train"),
        ("__lead__", "lead"),
        ("a___...b", "a-b"),
        ("already-valid--name", "already-valid--name"),
        ("", "job"),
        ("___", "job"),
    ],
)
def test_sanitize_name_replaces_runs_and_strips(text: str, expected: str) -> None:
    assert sanitize_name(text) == expected


def test_sanitize_name_transliterates_and_hashes_non_ascii() -> None:
    result = sanitize_name("modèle café")
    assert result == f"modele-cafe-{short_hash('modèle café')}"
    # the hash keeps texts that transliterate alike apart
    assert sanitize_name("modele cafe") == "modele-cafe"
    assert sanitize_name("modèle cafe") != result


def test_sanitize_name_nothing_left_from_unicode_gets_fallback_and_hash() -> None:
    assert sanitize_name("日本語") == f"job-{short_hash('日本語')}"
    assert sanitize_name("日本語") != sanitize_name("中文")


def test_sanitize_name_truncates_with_hash() -> None:
    long = "x" * 100
    result = sanitize_name(long)
    assert len(result) == 63
    assert result.endswith("-" + short_hash(long))
    assert sanitize_name("x" * 99) != result


def test_sanitize_name_truncation_never_ends_in_hyphen() -> None:
    # the cut falls right after a hyphen
    text = "a" * 53 + "-" + "b" * 30
    result = sanitize_name(text)
    assert is_valid_name(result)
    assert "--" not in result


@pytest.mark.parametrize("max_len", [1, 5, 9, 10, 20])
def test_sanitize_name_small_max_len(max_len: int) -> None:
    for text in ("x" * 40, "日本語", "ok"):
        result = sanitize_name(text, max_len=max_len)
        assert is_valid_name(result)
        assert len(result) <= max_len


def test_sanitize_name_rejects_zero_max_len() -> None:
    with pytest.raises(ValueError, match="max_len"):
        sanitize_name("abc", max_len=0)


def test_sanitize_name_property_random() -> None:
    rng = random.Random(20250101)
    for _ in range(2000):
        text = _random_text(rng)
        max_len = rng.randint(1, 63)
        result = sanitize_name(text, max_len=max_len)
        assert NAME_PATTERN.fullmatch(result), (text, result)
        assert len(result) <= max_len
        assert sanitize_name(text, max_len=max_len) == result


def test_sanitize_name_keeps_valid_names_unchanged() -> None:
    rng = random.Random(7)
    alphabet = "abcXYZ0189-"
    for _ in range(500):
        candidate = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 63)))
        if is_valid_name(candidate):
            assert sanitize_name(candidate) == candidate


def test_task_job_name_shape() -> None:
    name = task_job_name("nightly_retrain", "train", "scheduled__2025-01-01T00:00:00+00:00")
    assert re.fullmatch(r"nightly-retrain-train-[0-9a-f]{8}", name)


def test_task_job_name_is_deterministic_and_distinct() -> None:
    base = ("dag", "task", "scheduled__2025-01-01T00:00:00+00:00", -1)
    assert task_job_name(*base) == task_job_name(*base)
    variants = {
        task_job_name(*base),
        task_job_name("dag2", *base[1:]),
        task_job_name("dag", "task2", *base[2:]),
        task_job_name("dag", "task", "scheduled__2025-01-02T00:00:00+00:00", -1),
        task_job_name("dag", "task", base[2], 0),
        task_job_name("dag", "task", base[2], 1),
    }
    assert len(variants) == 6


def test_task_job_name_separator_ambiguity_does_not_collide() -> None:
    # same readable prefix "a-b-c", different ids
    assert task_job_name("a-b", "c", "r") != task_job_name("a", "b-c", "r")
    assert task_job_name("a_b", "c", "r") != task_job_name("a-b", "c", "r")


def test_task_job_name_attempt_suffix() -> None:
    first = task_job_name("dag", "task", "run")
    second = task_job_name("dag", "task", "run", attempt=2)
    assert second == first + "-a2"
    assert task_job_name("dag", "task", "run", attempt=3) == first + "-a3"


def test_task_job_name_long_ids_with_attempt_fit() -> None:
    name = task_job_name("d" * 300, "t" * 300, "r" * 300, 12345, attempt=999)
    assert is_valid_name(name)
    assert len(name) == 63
    assert name.endswith("-a999")


def test_task_job_name_rejects_bad_attempt() -> None:
    with pytest.raises(ValueError, match="attempt"):
        task_job_name("d", "t", "r", attempt=0)


def test_task_job_name_template_used_as_is() -> None:
    assert task_job_name("dag", "task", "run", template_name="mnist-20250101") == "mnist-20250101"
    # independent of the ids: the user owns uniqueness
    assert task_job_name("other", "x", "y", template_name="mnist-20250101") == "mnist-20250101"


def test_task_job_name_template_sanitized_with_map_index_and_attempt() -> None:
    assert task_job_name("d", "t", "r", template_name="mnist_2025.01.01") == "mnist-2025-01-01"
    assert task_job_name("d", "t", "r", 4, template_name="mnist-20250101") == "mnist-20250101-m4"
    assert task_job_name("d", "t", "r", 4, template_name="mnist-20250101", attempt=2) == "mnist-20250101-m4-a2"


def test_task_job_name_long_template_gets_hash_and_fits() -> None:
    template = "experiment-" + "y" * 80
    name = task_job_name("d", "t", "r", 7, template_name=template, attempt=2)
    assert is_valid_name(name)
    assert len(name) == 63
    assert name.endswith(f"-{short_hash(template)}-m7-a2")


def test_task_job_name_property_random() -> None:
    rng = random.Random(42)
    seen: dict[str, tuple[str, str, str, int]] = {}
    for _ in range(3000):
        ids = _random_ids(rng)
        if ids in seen.values():
            continue
        attempt = rng.choice([1, 1, 2, 17])
        name = task_job_name(*ids, attempt=attempt)
        assert is_valid_name(name), (ids, name)
        assert task_job_name(*ids, attempt=attempt) == name
        if attempt == 1:
            assert name not in seen, (ids, seen.get(name))
            seen[name] = ids


def test_task_job_name_property_random_templates() -> None:
    rng = random.Random(99)
    for _ in range(1000):
        template = _random_text(rng, 150)
        map_index = rng.randint(-1, 500)
        attempt = rng.randint(1, 30)
        name = task_job_name("d", "t", "r", map_index, template_name=template, attempt=attempt)
        assert is_valid_name(name), (template, name)


def test_job_tags_keys_and_values() -> None:
    tags = job_tags("nightly", "train", "scheduled__2025-01-01T00:00:00+00:00", 3)
    assert tags == {
        f"{TAG_PREFIX}dag-id": "nightly",
        f"{TAG_PREFIX}task-id": "train",
        f"{TAG_PREFIX}run-id": "scheduled__2025-01-01T00:00:00+00:00",
        f"{TAG_PREFIX}map-index": "3",
    }
    assert all(len(k) <= 128 for k in tags)


def test_job_tags_trim_and_replace_disallowed() -> None:
    tags = job_tags("d" * 400, "grüße", "run#1,2", -1)
    assert tags[f"{TAG_PREFIX}dag-id"] == "d" * 256
    assert tags[f"{TAG_PREFIX}task-id"] == "grüße"  # unicode letters are allowed in tag values
    assert tags[f"{TAG_PREFIX}run-id"] == "run_1_2"
    assert tags[f"{TAG_PREFIX}map-index"] == "-1"


@pytest.mark.parametrize(
    ("requested", "kwargs", "reasons"),
    [
        ("mnist-20250101", {}, []),
        ("my_experiment", {}, ["SageMaker names allow only letters, digits and '-': other characters became '-'"]),
        ("-lead", {}, ["SageMaker names allow only letters, digits and '-': other characters became '-'"]),
        ("modèle", {}, ["non-ASCII characters were transliterated (a hash of the text keeps names apart)"]),
        ("a" * 70, {}, ["names have at most 63 characters: shortened, with a hash of the full text"]),
        (
            "a" * 61,
            {"map_index": 3},
            [
                "names have at most 63 characters: shortened, with a hash of the full text",
                "-m3: the map index, so each mapped task instance has a job of its own",
            ],
        ),
        (
            "sweep",
            {"attempt": 2},
            ["-a2: the job of an earlier try ended Failed or Stopped and names are never reused"],
        ),
    ],
)
def test_name_changes_say_why_the_job_name_differs(requested: str, kwargs: dict, reasons: list[str]) -> None:
    from airflow_tf_sm.sagemaker.names import name_changes, task_job_name

    final = task_job_name(
        "d", "t", "r", kwargs.get("map_index", -1), template_name=requested, attempt=kwargs.get("attempt", 1)
    )
    assert name_changes(requested, final, **kwargs) == reasons
