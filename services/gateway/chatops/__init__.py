"""ChatOps: questions and commands in plain words, answered from the system's own data.

``intents`` is the typed output every parser produces, ``parser`` the deterministic parser (no
I/O), ``llm`` the optional fallback for free text, ``engine`` the one execution path (role
checks, then the owning service's API), ``answers`` the wording, ``history`` the per-user
conversation kept in Redis, ``routes`` the HTTP edge.
"""
