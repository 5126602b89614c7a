"""Facts of the resource families: the ``if_job_exists`` word of each job family."""

from __future__ import annotations

import pytest

from airflow_tf_sm.sagemaker.resources import ENDPOINT, TRAINING_JOB, TRANSFORM_JOB, TUNING_JOB, Resource


@pytest.mark.parametrize(
    ("resource", "word", "verb"),
    [(TRAINING_JOB, "retrain", "trains"), (TUNING_JOB, "retune", "tunes"), (TRANSFORM_JOB, "rerun", "scores")],
)
def test_each_job_family_runs_again_with_its_own_word_only(resource: Resource, word: str, verb: str) -> None:
    assert (resource.rerun("reuse"), resource.rerun(word), resource.rerun_verb) == (False, True, verb)
    for other in sorted({"retrain", "retune", "rerun", "Reuse", ""} - {word}):
        with pytest.raises(ValueError, match=rf"^if_job_exists: '{other}' -- must be 'reuse' or '{word}'$"):
            resource.rerun(other)


def test_a_family_that_is_not_a_job_has_no_if_job_exists() -> None:
    with pytest.raises(ValueError, match=r"^if_job_exists: endpoints are not jobs: nothing to reuse or run again$"):
        ENDPOINT.rerun("reuse")
