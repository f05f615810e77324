"""Post-action verification: after an action succeeded, watch the metric that triggered it and
record whether it improved (``verified``) or not (``not_improved``, escalated)."""
