"""An action's parameters parsed again (the same values, for every anomaly a rule matches)
answer what a first parse answers: values of another type are not taken for equal ones, and
what is refused is refused every time."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from pydantic import ValidationError

from services.remediator.core.actions.registry import ActionRegistry


def _fresh(registry: ActionRegistry, action: str, params: dict[str, Any]) -> Any:
    definition = registry[action]
    return definition.params_model.model_validate(dict(params), context=dict(definition.extra))


@pytest.mark.parametrize(
    "timeout",
    [60, 60.0, True, "60", 60.5, 20, None, "sixty"],
)
def test_each_value_is_judged_as_a_first_parse_judges_it(
    registry: ActionRegistry, timeout: Any
) -> None:
    restart = registry["restart_service"]
    for earlier in (60, 60.0, True, "60"):  # parsed first: their answers are kept
        with contextlib.suppress(ValidationError):
            restart.parse({"service": "app", "timeout_s": earlier})
    params = {"service": "app", "timeout_s": timeout}
    try:
        expected = _fresh(registry, "restart_service", params)
    except ValidationError:
        for _ in range(2):
            with pytest.raises(ValidationError):
                restart.parse(params)
        return
    for _ in range(2):
        assert restart.parse(params) == expected


def test_a_unit_outside_the_allow_lists_is_refused_every_time(registry: ActionRegistry) -> None:
    restart = registry["restart_service"]
    for _ in range(3):
        with pytest.raises(ValidationError):
            restart.parse({"service": "sshd"})
    assert restart.parse({"service": "app"}).service
