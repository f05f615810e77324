"""AWS through aioboto3: one session per process, retries on transient errors, SSM Run Command."""
