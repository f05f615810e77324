"""The rules in force, shared by the API and every worker.

The API validates the rules file at start-up and on ``POST /rules/reload`` and publishes the
accepted text to Redis with its version; a refused file changes nothing. Workers check the
published version before each decision (one small read) and switch when it changes; a worker
that finds nothing published loads the file itself, and one that cannot read what was
published decides nothing until it can (:class:`RulesUnreadableError`).
"""

from __future__ import annotations

from pathlib import Path

import redis
import structlog

from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.rules.loading import LoadedRules, load_rules_file, load_rules_text
from services.remediator.core.rules.matching import RemediationEngine
from services.remediator.errors import RulesFileError, RulesUnreadableError
from services.remediator.stores import redis_keys

log = structlog.get_logger("remediator.rules")


class RuleStore:
    def __init__(self, client: redis.Redis, path: Path, registry: ActionRegistry) -> None:
        self.redis = client
        self.path = path
        self.registry = registry
        self._engine: RemediationEngine | None = None
        self.last_error: str | None = None

    def load_and_publish(self) -> LoadedRules:
        """Validates the file and makes it the rules in force (raises RulesFileError)."""
        try:
            loaded = load_rules_file(self.path, self.registry)
        except RulesFileError as exc:
            self.last_error = str(exc)
            raise
        self.redis.hset(
            redis_keys.RULES_ACTIVE,
            mapping={
                "version": loaded.version,
                "source": loaded.source,
                "text": loaded.text,
                "loaded_at": loaded.loaded_at.isoformat(),
            },
        )
        self._engine = RemediationEngine(loaded, self.registry)
        self.last_error = None
        log.info("rules_loaded", version=loaded.version, source=loaded.source)
        return loaded

    def engine(self) -> RemediationEngine:
        """The engine for the rules in force (switching when another process published)."""
        return self.engine_for(self.redis.hget(redis_keys.RULES_ACTIVE, "version"))

    def queue_version(self, pipe: redis.client.Pipeline) -> None:
        """Queues the read of the published version on ``pipe``: its reply is what
        :meth:`engine_for` takes (one decision's reads in one round trip)."""
        pipe.hget(redis_keys.RULES_ACTIVE, "version")

    def cached(self, published: bytes) -> RemediationEngine | None:
        """The engine in use, if it is the one for version ``published`` (no Redis read)."""
        current = self._engine
        if current is not None and current.loaded.version == published.decode():
            return current
        return None

    def engine_for(self, published: bytes | None) -> RemediationEngine:
        """The engine for the rules whose published version was just read as ``published``."""
        current = self._engine
        if published is None:
            if current is None:
                loaded = load_rules_file(self.path, self.registry)
                current = self._engine = RemediationEngine(loaded, self.registry)
            return current
        if current is not None and current.loaded.version == published.decode():
            return current
        text, source = self.redis.hmget(redis_keys.RULES_ACTIVE, ["text", "source"])
        try:
            loaded = load_rules_text(text.decode(), source.decode(), self.registry)
        except RulesFileError as exc:
            # E.g. a newer API published rules naming an action this worker lacks: the
            # rules it had are no longer in force, so it decides nothing.
            log.error("published_rules_refused", version=published.decode(), error=str(exc))
            raise RulesUnreadableError(published.decode(), exc) from exc
        current = self._engine = RemediationEngine(loaded, self.registry)
        log.info("rules_switched", version=loaded.version)
        return current
