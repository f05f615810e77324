"""The notifier's errors. Only the app maps them to HTTP problems (``app.py``); no error text
ever holds a webhook URL.

NotifierError
├── SilenceNotFoundError        no silence with that id (or it has ended)
├── GroupNotFoundError          no alert group with that id (or it is over)
└── DeliveryError               a message was not accepted; ``reason`` is a metrics label
    └── WebhookUrlUnavailable   no URL could be read (Parameter Store failing, nothing cached)
"""

from __future__ import annotations


class NotifierError(Exception):
    """Base of the notifier's errors."""


class SilenceNotFoundError(NotifierError):
    def __init__(self, silence_id: str) -> None:
        super().__init__(f"no active silence {silence_id}")


class GroupNotFoundError(NotifierError):
    def __init__(self, group_id: str) -> None:
        super().__init__(f"no alert group {group_id}")


class DeliveryError(NotifierError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class WebhookUrlUnavailable(DeliveryError):
    def __init__(self, detail: str) -> None:
        super().__init__("url_unavailable", detail)
