"""Story 6: multi-worker mirrored strategy training (the DAG is ``tf_sm_distributed_dag.py``)."""
