"""Input channels of a training job, in the SDK's ``TrainingInput`` vocabulary, and their InputDataConfig entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_tf_sm.exceptions import FieldError
from airflow_tf_sm.sagemaker.fields import matches, s3_uri_errors, unknown_rule
from airflow_tf_sm.sagemaker.limits import CHANNEL_NAME_RULE, is_valid_channel_name

#: Input modes of a channel (and of the job's default).
INPUT_MODES = ("File", "Pipe", "FastFile")

#: Channel settings (the SDK's ``TrainingInput`` arguments) and the values each accepts
#: (None: any value of the right type, checked separately).
CHANNEL_SETTINGS: dict[str, tuple[str, ...] | None] = {
    "s3_data": None,
    "distribution": ("FullyReplicated", "ShardedByS3Key"),
    "content_type": None,
    "compression": ("Gzip", "None"),
    "input_mode": INPUT_MODES,
    "s3_data_type": ("S3Prefix", "ManifestFile", "AugmentedManifestFile"),
    "record_wrapping": ("RecordIO", "None"),
    "shuffle_config": None,
    "attribute_names": None,
}
#: The channel of a pre-trained model (``model_uri``): the SDK's default name and content type.
DEFAULT_MODEL_CHANNEL = "model"
MODEL_CONTENT_TYPE = "application/x-sagemaker-model"
#: Channel settings copied to a top-level key of the channel when given.
CHANNEL_API_KEYS = {
    "compression": "CompressionType",
    "content_type": "ContentType",
    "record_wrapping": "RecordWrapperType",
    "input_mode": "InputMode",
}


def channel_errors(name: Any, source: Any) -> list[FieldError]:
    """Return the problems of one channel: its name, and its URI or settings."""
    where = f"inputs.{name}"
    problems = []
    if not is_valid_channel_name(name):
        problems.append(FieldError(where, name, CHANNEL_NAME_RULE))
    if isinstance(source, str):
        return problems + s3_uri_errors(where, source)
    if not isinstance(source, Mapping):
        return [*problems, FieldError(where, source, "must be an s3:// URI or a mapping of channel settings")]
    for key, value in source.items():
        if key not in CHANNEL_SETTINGS:
            problems.append(FieldError(f"{where}.{key}", value, unknown_rule(str(key), list(CHANNEL_SETTINGS), "key")))
            continue
        choices = CHANNEL_SETTINGS[key]
        if choices is not None and value is not None and value not in choices:
            problems.append(FieldError(f"{where}.{key}", value, f"must be one of {', '.join(choices)}"))
    if "s3_data" not in source:
        problems.append(FieldError(f"{where}.s3_data", None, "required: the s3:// URI of the channel's data"))
    else:
        problems.extend(s3_uri_errors(f"{where}.s3_data", source["s3_data"]))
    content_type = source.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        problems.append(FieldError(f"{where}.content_type", content_type, "must be a string"))
    seed = source.get("shuffle_config")
    if seed is not None and not matches(seed, int):
        problems.append(FieldError(f"{where}.shuffle_config", seed, "must be an integer seed"))
    names = source.get("attribute_names")
    if names is not None and (not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names)):
        problems.append(FieldError(f"{where}.attribute_names", names, "must be a list of strings"))
    return problems


def channel(name: str, source: str | Mapping[str, Any]) -> dict[str, Any]:
    """Return one InputDataConfig entry, exactly as the SDK's ``TrainingInput`` builds it."""
    settings: Mapping[str, Any] = {"s3_data": source} if isinstance(source, str) else source
    s3_source: dict[str, Any] = {
        "S3DataType": settings.get("s3_data_type") or "S3Prefix",
        "S3Uri": settings["s3_data"],
        "S3DataDistributionType": settings.get("distribution") or "FullyReplicated",
    }
    if settings.get("attribute_names") is not None:
        s3_source["AttributeNames"] = list(settings["attribute_names"])
    channel: dict[str, Any] = {"ChannelName": name, "DataSource": {"S3DataSource": s3_source}}
    for key, api_key in CHANNEL_API_KEYS.items():
        if settings.get(key) is not None:
            channel[api_key] = settings[key]
    if settings.get("shuffle_config") is not None:
        channel["ShuffleConfig"] = {"Seed": settings["shuffle_config"]}
    return channel


def input_data_config(inputs: str | Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Return the InputDataConfig of ``inputs``: one URI (channel ``training``) or channel name -> URI/settings."""
    if inputs is None:
        return []
    if isinstance(inputs, str):
        return [channel("training", inputs)]
    return [channel(name, source) for name, source in inputs.items()]


def model_channel(model_uri: str, model_channel_name: str | None) -> dict[str, Any]:
    """Return the channel of a pre-trained model, as the SDK's ``_Job._format_model_uri_input`` builds it."""
    settings = {"s3_data": model_uri, "content_type": MODEL_CONTENT_TYPE, "input_mode": "File"}
    return channel(model_channel_name or DEFAULT_MODEL_CHANNEL, settings)


def model_channel_errors(model_uri: Any, model_channel_name: Any, inputs: Any) -> list[FieldError]:
    """Return the problems of ``model_uri`` / ``model_channel_name``.

    ``model_uri`` is an ``s3://`` URI (a prefix or a ``model.tar.gz``); the channel name (default ``model``)
    follows the channel name rule, is only given with ``model_uri`` and is not one of the ``inputs`` channels.
    """
    if model_uri is None:
        if model_channel_name is not None:
            return [FieldError("model_channel_name", model_channel_name, "only valid together with model_uri")]
        return []
    problems = s3_uri_errors("model_uri", model_uri)
    name = model_channel_name or DEFAULT_MODEL_CHANNEL
    if not is_valid_channel_name(name):
        problems.append(FieldError("model_channel_name", name, CHANNEL_NAME_RULE))
    names = ["training"] if isinstance(inputs, str) else list(inputs) if isinstance(inputs, Mapping) else []
    if name in names:
        rule = f"the model channel {name!r} is also an inputs channel: choose another model_channel_name"
        problems.append(FieldError("model_channel_name", name, rule))
    return problems
