"""TensorFlow Deep Learning Container image URIs for SageMaker, in the SDK's ``tensorflow.json`` vocabulary.

The table below is data taken from the SageMaker Python SDK's ``image_uri_config/tensorflow.json``
(recent versions only). A URI is ``{account}.dkr.ecr.{region}.{dns suffix}/{repository}:{tag}``,
with tag ``<version>-<cpu|gpu>[-<py>]``: the ``py`` part is present when the version lists Python
versions (every training image; inference images only from 2.20).

Example:
    >>> image_uri("2.19", "us-east-1", "ml.g5.xlarge")
    '763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.19.0-gpu-py312'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from airflow_tf_sm.exceptions import ConfigValidationError, FieldError, UnknownFrameworkVersionError


@dataclass(frozen=True)
class ImageScope:
    """The images of one scope.

    Attributes:
        repository: ECR repository name.
        versions: Full TensorFlow version -> Python versions that appear in its tags (empty: no py part).
    """

    repository: str
    versions: dict[str, tuple[str, ...]]


#: Scope -> its repository and versions. "major.minor" aliases resolve to the newest version of that
#: minor in this table.
IMAGES: dict[str, ImageScope] = {
    "training": ImageScope(
        repository="tensorflow-training",
        versions={
            "2.9.2": ("py39",),
            "2.10.1": ("py39",),
            "2.11.0": ("py39",),
            "2.12.0": ("py310",),
            "2.13.0": ("py310",),
            "2.14.1": ("py310",),
            "2.16.2": ("py310",),
            "2.18.0": ("py310",),
            "2.19.0": ("py312",),
            "2.21.0": ("py312",),
        },
    ),
    "inference": ImageScope(
        repository="tensorflow-inference",
        versions={
            "2.9.3": (),
            "2.10.1": (),
            "2.11.1": (),
            "2.12.1": (),
            "2.13.0": (),
            "2.14.1": (),
            "2.16.1": (),
            "2.18.0": (),
            "2.19.0": (),
            "2.20.0": ("py312",),
        },
    ),
}

#: The Deep Learning Containers account of most regions.
DEFAULT_ACCOUNT = "763104351884"

#: Regions whose Deep Learning Containers live in another account.
REGION_ACCOUNTS: dict[str, str] = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-east-2": "975050140332",
    "ap-northeast-3": "364406365360",
    "ap-south-2": "772153158452",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462",
    "ap-southeast-6": "633930458069",
    "ap-southeast-7": "590183813437",
    "ca-west-1": "204538143572",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
    "eu-central-2": "380420809688",
    "eu-isoe-west-1": "371248457586",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "mx-central-1": "637423239942",
    "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353",
    "us-iso-east-1": "886529160074",
    "us-isob-east-1": "094389454867",
    "us-isof-east-1": "303241398832",
    "us-isof-south-1": "454834333376",
}

#: Region prefix -> (partition, DNS suffix, account for regions not listed above). First match wins.
PARTITIONS: tuple[tuple[str, str, str, str], ...] = (
    ("cn-", "aws-cn", "amazonaws.com.cn", "727897471807"),
    ("us-gov-", "aws-us-gov", "amazonaws.com", DEFAULT_ACCOUNT),
    ("us-isob-", "aws-iso-b", "sc2s.sgov.gov", DEFAULT_ACCOUNT),
    ("us-isof-", "aws-iso-f", "csp.hci.ic.gov", DEFAULT_ACCOUNT),
    ("us-iso-", "aws-iso", "c2s.ic.gov", DEFAULT_ACCOUNT),
    ("eu-isoe-", "aws-iso-e", "cloud.adc-e.uk", DEFAULT_ACCOUNT),
    ("", "aws", "amazonaws.com", DEFAULT_ACCOUNT),
)

_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
#: The SageMaker SDK's local-mode instance types (Docker on this machine): not SageMaker instance types.
SDK_LOCAL_MODE_TYPES = ("local", "local_gpu")


def _scope(scope: str) -> ImageScope:
    try:
        return IMAGES[scope]
    except KeyError:
        raise ValueError(f"scope: {scope!r} -- must be one of {', '.join(IMAGES)}") from None


def _versions(scope: str) -> dict[str, tuple[str, ...]]:
    return _scope(scope).versions


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def known_versions(scope: str = "training") -> list[str]:
    """Return the full TensorFlow versions with a known image for ``scope``, oldest first.

    Args:
        scope: ``training`` or ``inference``.

    Raises:
        ValueError: for another scope.
    """
    return sorted(_versions(scope), key=_version_key)


def aliases(scope: str = "training") -> dict[str, str]:
    """Return the ``major.minor`` aliases of ``scope``, each mapped to the newest version of that minor."""
    result: dict[str, str] = {}
    for version in known_versions(scope):  # oldest first: the newest patch wins
        result[version.rsplit(".", 1)[0]] = version
    return result


def resolve_version(framework_version: str, scope: str = "training") -> str:
    """Return the full version for ``framework_version`` (a full version or a ``major.minor`` alias).

    Raises:
        UnknownFrameworkVersionError: when no image is known; the message lists the known versions.
    """
    version = str(framework_version).strip()
    if version in _versions(scope):
        return version
    alias = aliases(scope).get(version)
    if alias:
        return alias
    known = ", ".join(known_versions(scope))
    raise UnknownFrameworkVersionError(
        f"framework_version: {framework_version!r} -- no TensorFlow {scope} image is known for this "
        f"version; known versions: {known} (or their major.minor aliases)"
    )


def processor_for(instance_type: str) -> str:
    """Return ``gpu`` or ``cpu`` for a SageMaker instance type.

    GPU when the family after ``ml.`` starts with ``g`` or ``p`` (``ml.g5.xlarge``, ``ml.p3.2xlarge``).

    Raises:
        ConfigValidationError: for anything that is not ``ml.<family>.<size>`` (the SDK's local-mode
            ``local``/``local_gpu`` included: run on this machine with ``backend="local"`` instead).
    """
    if instance_type in SDK_LOCAL_MODE_TYPES:
        rule = (
            "is the SageMaker SDK's local (Docker) mode, not an instance type: to run on this machine use "
            "backend='local' with an ml.* instance type (e.g. ml.m5.large)"
        )
        raise ConfigValidationError([FieldError("instance_type", instance_type, rule)])
    parts = str(instance_type).split(".")
    if len(parts) < 3 or parts[0] != "ml" or not parts[1]:
        rule = "must look like ml.<family>.<size>, e.g. ml.m5.large"
        raise ConfigValidationError([FieldError("instance_type", instance_type, rule)])
    return "gpu" if parts[1][0] in "gp" else "cpu"


def _partition_row(region: str) -> tuple[str, str, str, str]:
    if not _REGION_RE.match(str(region)):
        raise ConfigValidationError([FieldError("region", region, "must be an AWS region name like us-east-1")])
    return next(row for row in PARTITIONS if region.startswith(row[0]))


def partition_for(region: str) -> str:
    """Return the AWS partition of ``region``: ``aws``, ``aws-cn``, ``aws-us-gov`` (or an ``aws-iso*`` one).

    Raises:
        ConfigValidationError: for a malformed region name.
    """
    return _partition_row(region)[1]


def dns_suffix(region: str) -> str:
    """Return the DNS suffix of ``region``'s partition (``amazonaws.com``, ``amazonaws.com.cn``, ...).

    Raises:
        ConfigValidationError: for a malformed region name.
    """
    return _partition_row(region)[2]


def account_for(region: str) -> str:
    """Return the account that hosts the TensorFlow Deep Learning Containers in ``region``.

    Any well-formed region not in :data:`REGION_ACCOUNTS` uses its partition's default account.

    Raises:
        ConfigValidationError: for a malformed region name.
    """
    row = _partition_row(region)
    return REGION_ACCOUNTS.get(region, row[3])


def tag_py_version(framework_version: str, py_version: str | None = None, scope: str = "training") -> str | None:
    """Return the Python version that goes into the image tag, or None when the tag has none.

    Like the SDK: the only offered Python version is the default; a ``py_version`` given for a
    version whose tags carry none is ignored.

    Raises:
        UnknownFrameworkVersionError: unknown version.
        ConfigValidationError: ``py_version`` is not offered for that version.
    """
    version = resolve_version(framework_version, scope)
    offered = _versions(scope)[version]
    if not offered:
        return None
    if py_version is None and len(offered) == 1:
        return offered[0]
    if py_version in offered:
        return py_version
    rule = f"TensorFlow {version} {scope} images are offered for {', '.join(offered)} only"
    raise ConfigValidationError([FieldError("py_version", py_version, rule)])


def image_uri(
    framework_version: str,
    region: str,
    instance_type: str,
    *,
    py_version: str | None = None,
    scope: str = "training",
) -> str:
    """Return the ECR URI of the SageMaker TensorFlow image, as the SDK's ``image_uris.retrieve`` does.

    Args:
        framework_version: Full version (``2.19.0``) or ``major.minor`` alias (``2.19``).
        region: AWS region of the job.
        instance_type: ``ml.*`` instance type; picks ``cpu`` or ``gpu``.
        py_version: Python version of the image (``py312``); defaults to the only one offered.
            Ignored for versions whose tags carry no Python version.
        scope: ``training`` or ``inference``.

    Raises:
        UnknownFrameworkVersionError: unknown version (the message lists the known ones).
        ConfigValidationError: a py_version the version does not offer, a malformed region or instance type.
    """
    version = resolve_version(framework_version, scope)
    py_part = tag_py_version(version, py_version, scope)
    processor = processor_for(instance_type)
    account = account_for(region)
    repository = _scope(scope).repository
    tag = "-".join(part for part in (version, processor, py_part) if part)
    return f"{account}.dkr.ecr.{region}.{dns_suffix(region)}/{repository}:{tag}"
