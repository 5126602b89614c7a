"""Batch transform: spec (SDK ``transformer()``/``transform()`` vocabulary), service, operator, sensor, trigger."""
