"""Slack: the ``/cloudops`` slash command and the notifier's buttons.

Both endpoints take no API key: Slack's request signature is their authentication, verified
over the raw body before anything is parsed (``verification``). Slack users get roles from
``SCOPS_SLACK_USER_ROLES`` (``users``); commands go through the same ChatOps engine as the
HTTP API; late answers and message updates go to the request's ``response_url``
(``responder``).
"""
