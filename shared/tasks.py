"""Celery task names: the contract between the remediator's dispatcher and its workers.

Tasks are sent by name (``send_task``) with keyword arguments only.
"""

from __future__ import annotations

HANDLE_ANOMALY = "remediator.handle_anomaly"
REMEDIATION_QUEUE = "remediation"
