"""The names of the safety checks, as records and metrics know them."""

from __future__ import annotations

import re

from services.remediator.core.safety_policy import ATOMIC_CHECKS
from services.remediator.stores.safety_scripts import CHECK_AND_RESERVE


def test_the_atomic_checks_are_the_refusals_of_the_redis_script_in_its_order() -> None:
    verdicts = re.findall(r"return \{'(\w+)'", CHECK_AND_RESERVE)
    refusals = [v for v in dict.fromkeys(verdicts) if v not in ("ok", "dry_run")]
    assert refusals == list(ATOMIC_CHECKS)
