"""Executors run an action: ``ssm`` (AWS through aioboto3), ``dry-run`` (describes what would
run), ``local`` (catalogue scripts on this host, for demos; off unless chosen)."""
