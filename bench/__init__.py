"""Benchmarks of airflow_tf_sm: ``python -m bench.run`` (or ``make bench``) prints one table of measured figures."""
