"""Training jobs: spec (SDK ``TensorFlow`` estimator vocabulary), service, operator, sensor, trigger."""
