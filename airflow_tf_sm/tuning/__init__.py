"""Hyperparameter tuning: the spec, the hook's service, the operator, the sensor and the trigger."""
