"""Handling an anomaly or a request, on top of the stores, executors and AWS: the workflow that
takes the core's decision and acts on it, the runner, the approval gate, and verification."""
