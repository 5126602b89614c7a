"""Facts of the SageMaker API, written once: names, ``s3://`` URIs, error codes, resources, limits, images, fields.

Nothing here imports Airflow, boto3 or another part of the package (except the small exception classes),
so every layer above, the local backend's job runner included, reads the same facts.
"""
