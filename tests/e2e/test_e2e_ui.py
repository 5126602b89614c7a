"""The Airflow UI in headless Chromium: the trigger form's Params, the training log once, links only where useful.

Drives Debian's ``chromium`` through ``chromedriver`` with selenium. Screenshots are saved next to the
cluster's logs (``<basetemp>/e2e0/logs/ui-*.png``).
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import AirflowCluster, ApiError

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# flags known to work in this kind of sandbox: no GPU, no background traffic to the outside
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


@pytest.fixture
def browser(cluster: AirflowCluster, tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium logged in to the cluster's UI (the token cookie the login page would set)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("selenium")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"UI check needs {missing}: run tests/e2e/setup.sh")
        pytest.skip(f"UI check needs {missing} (tests/e2e/setup.sh installs them)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    try:
        driver.get(cluster.base_url + "/api/v2/version")  # a page of the origin, to set its cookie
        driver.add_cookie({"name": "_token", "value": cluster.api.token(), "path": "/"})
        yield driver
    finally:
        driver.quit()


def wait_text(driver: Any, texts: list[str], timeout: float = 60) -> str:
    """Wait until the page's visible text contains all ``texts``; return that text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d: Any) -> str | bool:
        body = d.find_element(By.TAG_NAME, "body").text
        return body if all(t in body for t in texts) else False

    return str(WebDriverWait(driver, timeout).until(found, f"page text never contained all of {texts}"))


def screenshot(driver: Any, cluster: AirflowCluster, name: str) -> None:
    driver.save_screenshot(str(cluster.log_dir / f"ui-{name}.png"))


def test_trigger_form_shows_the_example_dags_params_and_triggers_with_them(
    cluster: AirflowCluster, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    dag_id = "tf_sm_example"
    runs_before = {r["dag_run_id"] for r in cluster.runs(dag_id)}
    browser.get(f"{cluster.base_url}/dags/{dag_id}")
    try:
        wait_text(browser, [dag_id, "Trigger"])
        WebDriverWait(browser, 30).until(
            ec.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Trigger']"))
        ).click()
        # every Param has a title and a description on the form
        titles = ["Epochs", "Learning rate", "Batch size", "Instance type", "Bucket", "Execution role ARN"]
        text = wait_text(browser, [*titles, "Quality gate"])
        for description in (
            "Passes over the training data (1-200)",
            "Adam's learning rate (0.0001-1)",
            "Rows per step (1-4096)",
            "SageMaker training instance type",
            "s3://bucket for the data and the models",
            "The SageMaker execution role",
            "Metric -> rule checked against the job's final metrics before deploying",
        ):
            assert description in text, description

        def field(name: str) -> Any:
            return browser.find_element(By.XPATH, f"//*[@id='element_{name}' or @name='element_{name}']")

        def replace(name: str, value: str) -> None:
            field(name).send_keys(Keys.CONTROL, "a")  # the modifier stays down until the call ends
            field(name).send_keys(Keys.DELETE)
            field(name).send_keys(value)

        assert field("epochs").get_attribute("value") == "10"  # the Param's default
        assert "ml.m5.large" in field("instance_type").text  # a drop-down of the allowed instance types
        # an out-of-range value is refused by the form itself (the number field holds the Param's range)
        replace("epochs", "0")
        field("batch_size").click()  # leave the field
        assert field("epochs").get_attribute("value") != "0", "the form kept epochs=0 (minimum 1)"
        replace("epochs", "1")
        field("role_arn").send_keys("arn:aws:iam::123456789012:role/SageMakerRole")
        screenshot(browser, cluster, "trigger-form")
        WebDriverWait(browser, 30).until(
            ec.element_to_be_clickable((By.XPATH, "//*[@role='dialog']//button[normalize-space()='Trigger']"))
        ).click()
    except Exception:
        screenshot(browser, cluster, "trigger-form-failed")
        raise

    def new_run() -> dict | None:
        runs = [r for r in cluster.runs(dag_id) if r["dag_run_id"] not in runs_before]
        return runs[0] if runs else None

    run = cluster.waiting(new_run, 30, "the run the trigger form started")
    assert run["conf"]["epochs"] == 1 and run["conf"]["learning_rate"] == 0.01
    assert cluster.wait_run(dag_id, run["dag_run_id"], timeout=480)["state"] == "success"
    [job] = cluster.jobs_of(dag_id, run["dag_run_id"])
    assert job["HyperParameters"]["epochs"] == "1"

    # each training-log line once in the task's log; the trigger's event as a one-line summary, never its payload.
    # Airflow 3.3 can lose a deferred try whose trigger fires right after it deferred and run the task again
    # (retries=1: the next try re-attaches to the job): then each try's log is checked on its own.
    quoted = urllib.parse.quote(run["dag_run_id"], safe="")
    tries = cluster.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/train")["try_number"]
    found = {n: try_log(cluster, dag_id, run["dag_run_id"], n) for n in range(1, tries + 1)}
    logs = {n: log for n, log in found.items() if log is not None}
    streamed = {n: log for n, log in logs.items() if "epoch=1 loss=" in log}
    assert streamed, f"no try of train ({tries}) streamed the training log: {logs}"
    for log in logs.values():
        assert "TriggerEvent<{" not in log and "log_tail" not in log and "Last log lines" not in log
    for log in streamed.values():
        assert log.count("epoch=1 loss=") == 1 and log.count("final val_accuracy=") == 1, log[-3000:]
    shown_try = max(streamed)

    # a local task has no links (there is no console): no empty "Extra Links", no link XComs
    links = cluster.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/train/links")["extra_links"]
    assert links == {}
    entries = cluster.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/train/xcomEntries")
    assert {e["key"] for e in entries["xcom_entries"]} == {"job_name", "return_value"}
    browser.get(f"{cluster.base_url}/dags/{dag_id}/runs/{quoted}/tasks/train/details")
    text = wait_text(browser, ["TFTrainingOperator"])
    screenshot(browser, cluster, "local-links")
    assert "Extra Links" not in text and "SageMaker Training Job" not in text
    browser.get(f"{cluster.base_url}/dags/{dag_id}/runs/{quoted}/tasks/train?try_number={shown_try}")
    text = wait_text(browser, ["epoch=1 loss="], timeout=90)
    screenshot(browser, cluster, "train-log")
    assert "TriggerEvent<{" not in text and "log_tail" not in text


def try_log(cluster: AirflowCluster, dag_id: str, run_id: str, try_number: int) -> str | None:
    """The log of the run's ``train`` try ``try_number``, or None when that try is not on record (404)."""
    try:
        return cluster.task_log(dag_id, run_id, try_number)
    except ApiError as err:
        if err.status != 404:
            raise
        return None


def test_training_task_shows_its_extra_links(cluster: AirflowCluster, browser: Any, moto_server: str) -> None:
    import boto3

    # the sagemaker backend (against moto) gives the links real URLs; local jobs have none, by design
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket="tf-sm-e2e-moto")
    dag_id = "tf_sm_e2e_aws_links"
    run_id = cluster.trigger(dag_id)
    assert cluster.wait_run(dag_id, run_id)["state"] == "success"
    quoted = urllib.parse.quote(run_id, safe="")
    links = cluster.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/train/links")["extra_links"]
    xcom = f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/train/xcomEntries/job_name"
    job_name = cluster.api.get(xcom)["value"]
    assert set(links) == {"SageMaker Training Job", "Training Job Logs"}
    assert links["SageMaker Training Job"].startswith("https://console.aws.amazon.com/sagemaker/home?region=us-east-1")

    browser.get(f"{cluster.base_url}/dags/{dag_id}/runs/{quoted}/tasks/train/details")
    try:
        wait_text(browser, ["Extra Links", "SageMaker Training Job", "Training Job Logs"])
        from selenium.webdriver.common.by import By

        hrefs = {a.text.strip(): a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")}
        assert hrefs["SageMaker Training Job"] == links["SageMaker Training Job"]
        assert hrefs["Training Job Logs"] == links["Training Job Logs"]
        assert links["SageMaker Training Job"].endswith(f"#/jobs/{job_name}")
    finally:
        screenshot(browser, cluster, "extra-links")
