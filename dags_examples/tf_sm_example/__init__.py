"""Example training code and data for the airflow_tf_sm example DAGs."""
