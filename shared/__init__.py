"""Contracts shared by every service: event models, settings base, the Redis Streams bus, logging.

Nothing here imports a service. Only :mod:`shared.web` imports FastAPI (see docs/adr/0002).
"""
