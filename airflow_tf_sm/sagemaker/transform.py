"""Facts of SageMaker batch transform (CreateTransformJob; developer guide; TF Serving container).

The allowed values of the request's enumerations, the keys under which a JSON join puts the input and the
prediction, and the content types the TensorFlow Serving container reads. Limits are in ``limits.py``.
"""

from __future__ import annotations

#: ``TransformInput.DataSource.S3DataSource.S3DataType``.
DATA_TYPES = ("S3Prefix", "ManifestFile")
#: ``TransformInput.CompressionType``.
COMPRESSION_TYPES = ("None", "Gzip")
#: ``TransformInput.SplitType``; the ones that cut an object into records are all but ``None``.
SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
RECORD_SPLIT_TYPES = ("Line", "RecordIO", "TFRecord")
#: ``BatchStrategy``; ``MultiRecord`` needs a record-splitting SplitType.
BATCH_STRATEGIES = ("SingleRecord", "MultiRecord")
#: ``TransformOutput.AssembleWith``.
ASSEMBLY_TYPES = ("None", "Line")
#: ``DataProcessing.JoinSource``.
JOIN_SOURCES = ("None", "Input")
#: ``DataProcessing`` filters default to the whole record.
DEFAULT_FILTER = "$"

#: A JSON join adds the prediction to the input object under this key ...
JOIN_OUTPUT_KEY = "SageMakerOutput"
#: ... and wraps an input that is not an object under this one.
JOIN_INPUT_KEY = "SageMakerInput"

CSV = "text/csv"
JSON = "application/json"
JSON_LINES = "application/jsonlines"
#: Content types the data processing (filters, join) works on: CSV and JSON only.
DATA_PROCESSING_CONTENT_TYPES = (CSV, JSON, JSON_LINES)
#: Output file of an input object: ``<S3OutputPath>/<key relative to the input prefix>`` + this suffix.
OUTPUT_SUFFIX = ".out"


def media_type(content_type: str | None) -> str:
    """Return the media type of a Content-Type value, lower-cased, without parameters (``""`` for None)."""
    return (content_type or "").split(";", 1)[0].strip().lower()
