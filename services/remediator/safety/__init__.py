"""Safety: static checks (allow and deny lists) and atomic Redis checks (rate limit, cooldown,
lock, blast radius, maintenance windows, circuit breaker, dry-run)."""
