"""Celery task names: the contract between the remediator's dispatcher and its workers.

Tasks are sent by name (``send_task``) with keyword arguments only.
"""

from __future__ import annotations

HANDLE_ANOMALY = "remediator.handle_anomaly"
RECHECK_ANOMALY = "remediator.recheck_anomaly"
EXECUTE_REQUEST = "remediator.execute_request"
POLL_COMMAND = "remediator.poll_command"
REMEDIATION_QUEUE = "remediation"
