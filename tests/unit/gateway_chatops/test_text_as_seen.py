"""A chat message is read as the person sees it: "dry run" written with an invisible character
or a typographic hyphen is a dry run; digits other than 0-9 are not read as numbers."""

from __future__ import annotations

import pytest

from services.gateway.chatops.intents import ChatIntent, IntentName
from services.gateway.chatops.parser import parse
from services.gateway.chatops.text_guard import foreign_digits, readable

LOOKALIKES = {
    "zero-width space": "dry\u200brun",
    "soft hyphen": "dry\u00adrun",
    "word joiner": "dry\u2060run",
    "non-breaking hyphen": "dry\u2011run",
    "en dash": "dry\u2013run",
    "hyphen": "dry\u2010run",
}


@pytest.mark.parametrize("said", LOOKALIKES.values(), ids=list(LOOKALIKES))
def test_dry_run_written_with_a_lookalike_is_a_dry_run(said: str) -> None:
    parsed = parse(readable(f"restart nginx on web-1 because {said} first"))
    assert isinstance(parsed, ChatIntent) and parsed.intent is IntentName.RUN_ACTION
    assert parsed.entities.dry_run


@pytest.mark.parametrize(
    "text",
    [
        "scale in web-asg by 1\u0660",
        "scale out web-asg by \u0967\u0966",
        "silence web-1 for 1\u00b2m",
    ],
)
def test_digits_other_than_0_to_9_are_found(text: str) -> None:
    assert foreign_digits(text) is not None


def test_plain_text_reads_as_it_is() -> None:
    text = "scale out web-asg by 10 because load - see https://x/y?a=1"
    assert readable(text) == text and foreign_digits(text) is None
