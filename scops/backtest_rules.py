"""A dry run of the remediation rules over the anomalies a backtest found: which rule would
have fired on each, and what it would have done.

Each anomaly event the replay produced (an opening or an escalation: what the remediator
receives) goes through the remediator's pure rules engine, with the rules file in force
(``SCOPS_RULES_PATH``) or the one given. Nothing is executed and nothing needs Redis or AWS:
the safety gates that depend on live state (rate limit, cooldowns, approvals, maintenance
windows, a rule's ``for:`` duration) are not applied, so the counts are what the rules
*recommend*, an upper bound on what would have run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from scops.backtest import BacktestError
from services.remediator.config import RemediatorSettings
from services.remediator.core.actions.catalogue import load_catalogue
from services.remediator.core.actions.registry import build_registry
from services.remediator.core.rules.loading import load_rules_file
from services.remediator.core.rules.matching import Recommendation, RemediationEngine
from services.remediator.errors import RulesFileError
from shared.events import AnomalyEvent, Event

EXAMPLES = 5


@dataclass
class DryRules:
    engine: RemediationEngine
    evaluated: int = 0
    unmatched: int = 0
    fired: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, action)
    shadow: Counter[tuple[str, str]] = field(default_factory=Counter)
    approvals: Counter[str] = field(default_factory=Counter)  # rule: times a human must approve
    examples: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, rules: Path | None) -> DryRules:
        """The engine for ``rules`` (default: the remediator's configured rules file), with the
        configured script catalogue."""
        settings = RemediatorSettings()
        try:
            registry = build_registry(load_catalogue(settings.script_catalogue_path))
            loaded = load_rules_file(rules or settings.rules_path, registry)
        except RulesFileError as exc:
            raise BacktestError(f"rules: {exc}") from exc
        except OSError as exc:
            raise BacktestError(f"{exc.filename}: cannot read the rules: {exc.strerror}") from exc
        return cls(RemediationEngine(loaded, registry))

    def observe(self, event: Event) -> None:
        """Evaluate one event the replay produced (resolutions are not evaluated)."""
        if not isinstance(event, AnomalyEvent):
            return
        self.evaluated += 1
        result = self.engine.evaluate(event)
        for recommendation in result.shadow:
            self.shadow[(recommendation.rule.name, _action(recommendation))] += 1
        live = result.live
        if live is None:
            self.unmatched += 1
            return
        self.fired[(live.rule.name, _action(live))] += 1
        if live.approval.required:
            self.approvals[live.rule.name] += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(
                f"{event.observed_at.isoformat()} {event.resource_id}/{event.metric} "
                f"= {event.value:g} ({event.severity.value}): {live.rule.name} -> "
                f"{_done(live)}"
            )

    def lines(self) -> list[str]:
        loaded = self.engine.loaded
        out = [
            f"rules {loaded.source} (version {loaded.version}), dry run over "
            f"{self.evaluated} anomaly event(s): {sum(self.fired.values())} would have fired "
            f"a rule, {self.unmatched} matched none"
        ]
        for (rule, action), n in sorted(self.fired.items(), key=lambda kv: (-kv[1], kv[0])):
            needs = f", {self.approvals[rule]} waiting for approval" if self.approvals[rule] else ""
            out.append(f"  rule {rule}: {action} x{n}{needs}")
        for (rule, action), n in sorted(self.shadow.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  shadow rule {rule}: would have recorded {action} x{n}")
        if self.examples:
            out.append("  for example:")
            out += [f"    {line}" for line in self.examples]
        return out


def _action(recommendation: Recommendation) -> str:
    """The action that would run: the first whose target and parameters resolve."""
    for candidate in recommendation.candidates:
        if candidate.ready:
            return candidate.action
    return "nothing (no action resolves)"


def _done(recommendation: Recommendation) -> str:
    ready = [c for c in recommendation.candidates if c.ready]
    what = (
        ready[0].describe() if ready else "; ".join(c.describe() for c in recommendation.candidates)
    )
    approval = recommendation.approval
    return f"{what} ({'approval needed: ' if approval.required else ''}{approval.why})"
