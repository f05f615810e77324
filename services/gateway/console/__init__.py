"""The operator console: server-rendered pages for the people on call, served by the gateway.

It reads and acts through the same backends, role table and per-key budgets as the public API
(``services.gateway.routes_proxy``), signed in with an API key exchanged for a session cookie.
"""
