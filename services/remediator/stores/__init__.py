"""Redis-backed state: claims, debounce streaks, recent anomalies, approvals, escalations, the
safety manager's atomic checks and maintenance windows, the rules in force, and the audit
streams. Each store is small and knows its keys (:mod:`.keys`)."""
