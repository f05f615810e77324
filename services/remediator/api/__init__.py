"""The remediator's HTTP API (internal: the gateway proxies it with roles)."""
