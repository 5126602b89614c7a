"""Image URIs: regions, partitions, accounts, processors, versions, aliases and errors."""

from __future__ import annotations

import pytest

from airflow_tf_sm.exceptions import ConfigValidationError, UnknownFrameworkVersionError
from airflow_tf_sm.sagemaker import images


def _fields(exc: ConfigValidationError) -> list[str]:
    return [error.field for error in exc.errors]


# ---------------------------------------------------------------- regions / accounts
@pytest.mark.parametrize(
    ("region", "registry"),
    [
        # the default account
        ("us-east-1", "763104351884.dkr.ecr.us-east-1.amazonaws.com"),
        ("us-west-2", "763104351884.dkr.ecr.us-west-2.amazonaws.com"),
        ("eu-west-1", "763104351884.dkr.ecr.eu-west-1.amazonaws.com"),
        ("ap-southeast-2", "763104351884.dkr.ecr.ap-southeast-2.amazonaws.com"),
        ("sa-east-1", "763104351884.dkr.ecr.sa-east-1.amazonaws.com"),
        # opt-in regions with their own account
        ("af-south-1", "626614931356.dkr.ecr.af-south-1.amazonaws.com"),
        ("ap-east-1", "871362719292.dkr.ecr.ap-east-1.amazonaws.com"),
        ("me-central-1", "914824155844.dkr.ecr.me-central-1.amazonaws.com"),
        ("me-south-1", "217643126080.dkr.ecr.me-south-1.amazonaws.com"),
        ("eu-south-1", "692866216735.dkr.ecr.eu-south-1.amazonaws.com"),
        ("il-central-1", "780543022126.dkr.ecr.il-central-1.amazonaws.com"),
        ("ap-northeast-3", "364406365360.dkr.ecr.ap-northeast-3.amazonaws.com"),
        # China: own account and DNS suffix
        ("cn-north-1", "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn"),
        ("cn-northwest-1", "727897471807.dkr.ecr.cn-northwest-1.amazonaws.com.cn"),
        # GovCloud
        ("us-gov-west-1", "442386744353.dkr.ecr.us-gov-west-1.amazonaws.com"),
        ("us-gov-east-1", "446045086412.dkr.ecr.us-gov-east-1.amazonaws.com"),
        # isolated partitions
        ("us-iso-east-1", "886529160074.dkr.ecr.us-iso-east-1.c2s.ic.gov"),
        ("us-isob-east-1", "094389454867.dkr.ecr.us-isob-east-1.sc2s.sgov.gov"),
        # well-formed regions not in the table: the partition's default account
        ("ap-newplace-9", "763104351884.dkr.ecr.ap-newplace-9.amazonaws.com"),
        ("cn-south-3", "727897471807.dkr.ecr.cn-south-3.amazonaws.com.cn"),
    ],
)
def test_registry_per_region(region: str, registry: str) -> None:
    uri = images.image_uri("2.19.0", region, "ml.m5.large")
    assert uri == f"{registry}/tensorflow-training:2.19.0-cpu-py312"


@pytest.mark.parametrize(
    ("region", "partition", "suffix"),
    [
        ("us-east-1", "aws", "amazonaws.com"),
        ("eu-central-2", "aws", "amazonaws.com"),
        ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
        ("us-gov-west-1", "aws-us-gov", "amazonaws.com"),
        ("us-iso-east-1", "aws-iso", "c2s.ic.gov"),
        ("us-isob-east-1", "aws-iso-b", "sc2s.sgov.gov"),
    ],
)
def test_partition_and_dns_suffix(region: str, partition: str, suffix: str) -> None:
    assert images.partition_for(region) == partition
    assert images.dns_suffix(region) == suffix


@pytest.mark.parametrize("region", ["", "US-EAST-1", "useast1", "us-east", "us_east_1", "us-east-1a", "1-us-east"])
def test_malformed_region_is_rejected(region: str) -> None:
    for call in (
        lambda: images.image_uri("2.19.0", region, "ml.m5.large"),
        lambda: images.partition_for(region),
        lambda: images.dns_suffix(region),
    ):
        with pytest.raises(ConfigValidationError) as info:
            call()
        assert _fields(info.value) == ["region"]


# ----------------------------------------------------------------------- processors
@pytest.mark.parametrize(
    ("instance_type", "processor"),
    [
        ("ml.m5.large", "cpu"),
        ("ml.c5.2xlarge", "cpu"),
        ("ml.r5.xlarge", "cpu"),
        ("ml.trn1.2xlarge", "cpu"),
        ("ml.g4dn.xlarge", "gpu"),
        ("ml.g5.12xlarge", "gpu"),
        ("ml.p3.2xlarge", "gpu"),
        ("ml.p4d.24xlarge", "gpu"),
    ],
)
def test_processor_for(instance_type: str, processor: str) -> None:
    assert images.processor_for(instance_type) == processor


@pytest.mark.parametrize("instance_type", ["m5.large", "ml.m5", "ml..large", "gpu", "", "local-gpu"])
def test_bad_instance_type(instance_type: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        images.processor_for(instance_type)
    assert _fields(info.value) == ["instance_type"]


def test_gpu_instance_picks_gpu_tag() -> None:
    cpu = images.image_uri("2.18.0", "us-east-1", "ml.c5.xlarge")
    gpu = images.image_uri("2.18.0", "us-east-1", "ml.p3.2xlarge")
    assert cpu.endswith("/tensorflow-training:2.18.0-cpu-py310")
    assert gpu.endswith("/tensorflow-training:2.18.0-gpu-py310")
    assert images.image_uri("2.19", "us-east-1", "ml.g5.xlarge").endswith(":2.19.0-gpu-py312")


@pytest.mark.parametrize("instance_type", ["local", "local_gpu"])
def test_sdk_local_mode_types_are_refused_with_the_backend_to_use(instance_type: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        images.processor_for(instance_type)
    (error,) = info.value.errors
    assert error.field == "instance_type" and error.value == instance_type
    assert "backend='local'" in error.rule and "ml.* instance type" in error.rule


# ------------------------------------------------------------------------- versions
@pytest.mark.parametrize(
    ("version", "scope", "tag"),
    [
        ("2.12", "training", "2.12.0-cpu-py310"),
        ("2.13", "training", "2.13.0-cpu-py310"),
        ("2.14", "training", "2.14.1-cpu-py310"),
        ("2.16", "training", "2.16.2-cpu-py310"),
        ("2.18", "training", "2.18.0-cpu-py310"),
        ("2.19", "training", "2.19.0-cpu-py312"),
        ("2.16.2", "training", "2.16.2-cpu-py310"),
        ("2.12", "inference", "2.12.1-cpu"),
        ("2.13", "inference", "2.13.0-cpu"),
        ("2.14", "inference", "2.14.1-cpu"),
        ("2.16", "inference", "2.16.1-cpu"),
        ("2.18", "inference", "2.18.0-cpu"),
        ("2.19", "inference", "2.19.0-cpu"),
        ("2.19.0", "inference", "2.19.0-cpu"),
        ("2.20", "inference", "2.20.0-cpu-py312"),
    ],
)
def test_aliases_and_tags(version: str, scope: str, tag: str) -> None:
    repository = f"tensorflow-{scope}"
    expected = f"763104351884.dkr.ecr.us-east-1.amazonaws.com/{repository}:{tag}"
    assert images.image_uri(version, "us-east-1", "ml.m5.large", scope=scope) == expected


def test_known_versions_cover_recent_releases_sorted() -> None:
    training = images.known_versions("training")
    inference = images.known_versions()
    assert inference == training  # the default scope is training
    for minor in ("2.12", "2.13", "2.14", "2.16", "2.18", "2.19"):
        assert any(v.startswith(minor + ".") for v in training)
        assert any(v.startswith(minor + ".") for v in images.known_versions("inference"))
    assert training.index("2.9.2") < training.index("2.10.1") < training.index("2.19.0")
    assert images.resolve_version("2.16") == "2.16.2"
    assert images.resolve_version("2.16", "inference") == "2.16.1"


@pytest.mark.parametrize("version", ["3.0", "2.17", "1.15", "2.19.1", "latest", ""])
def test_unknown_version_lists_known_ones(version: str) -> None:
    with pytest.raises(UnknownFrameworkVersionError) as info:
        images.image_uri(version, "us-east-1", "ml.m5.large")
    message = str(info.value)
    assert "framework_version" in message
    for known in ("2.12.0", "2.16.2", "2.18.0", "2.19.0"):
        assert known in message


def test_py_version_explicit_default_and_rejected() -> None:
    assert images.image_uri("2.19.0", "us-east-1", "ml.m5.large", py_version="py312").endswith("-py312")
    with pytest.raises(ConfigValidationError) as info:
        images.image_uri("2.19.0", "us-east-1", "ml.m5.large", py_version="py310")
    assert _fields(info.value) == ["py_version"]
    assert "py312" in str(info.value)
    # inference tags without a Python part ignore py_version, as the SDK does
    assert images.image_uri("2.19", "us-east-1", "ml.m5.large", py_version="py39", scope="inference").endswith(
        ":2.19.0-cpu"
    )
    assert images.tag_py_version("2.19", None, "inference") is None
    assert images.tag_py_version("2.18") == "py310"


def test_unknown_scope() -> None:
    with pytest.raises(ValueError, match="scope"):
        images.image_uri("2.19.0", "us-east-1", "ml.m5.large", scope="serving")
    with pytest.raises(ValueError, match="scope"):
        images.known_versions("eia")
