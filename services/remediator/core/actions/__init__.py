"""Remediation actions, one per module, registered by name in :mod:`.registry`."""
