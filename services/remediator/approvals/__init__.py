"""Approvals: pending requests with an expiry, decided through the API (later, Slack buttons),
and the SSM parameter that switches auto-approval on."""
