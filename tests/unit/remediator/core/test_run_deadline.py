"""How long a staggered SSM command may take: SSM may wait its delivery timeout to start it,
then reaches ``MaxConcurrency`` instances at a time, so N instances take ceil(N / at-once)
command timeouts."""

from __future__ import annotations

import pytest

from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.run_deadline import (
    MARGIN_S,
    deadline_s,
    delivery_timeout_s,
    instances_at_once,
    start_timeout_s,
    waves,
)


@pytest.mark.parametrize(
    ("max_concurrency", "instances", "at_once", "rounds"),
    [
        ("1", 4, 1, 4),
        ("3", 4, 3, 2),
        ("10", 4, 10, 1),
        ("50%", 4, 2, 2),
        ("25%", 10, 2, 5),  # 2.5 instances: SSM cannot run half of one, so 2 at a time
        ("1%", 10, 1, 10),  # never less than one at a time
        ("100%", 7, 7, 1),
    ],
)
def test_instances_are_reached_in_waves_of_max_concurrency(
    max_concurrency: str, instances: int, at_once: int, rounds: int
) -> None:
    assert instances_at_once(max_concurrency, instances) == at_once
    assert waves(max_concurrency, instances) == rounds


def test_one_instance_or_an_api_call_is_one_wave(registry: ActionRegistry) -> None:
    assert waves("1", 1) == 1 and waves("1", 0) == 1
    scale_in = registry["scale_in"]
    params = scale_in.parse({})
    assert deadline_s(scale_in, params, 5) == scale_in.timeout_s(params) + MARGIN_S


def test_a_shell_action_on_four_instances_one_at_a_time_gets_four_timeouts(
    registry: ActionRegistry,
) -> None:
    restart = registry["restart_service"]
    params = restart.parse({"service": "app", "timeout_s": 300, "max_concurrency": "1"})
    assert deadline_s(restart, params, 4) == 300 + 4 * 300 + MARGIN_S
    assert deadline_s(restart, params, 1) == 300 + 300 + MARGIN_S


def test_a_command_may_wait_its_delivery_timeout_before_it_starts(
    registry: ActionRegistry,
) -> None:
    assert delivery_timeout_s(300) == 300
    assert delivery_timeout_s(5) == 30  # the least SSM accepts
    restart = registry["restart_service"]
    params = restart.parse({"service": "app", "timeout_s": 30})
    assert deadline_s(restart, params, 1) == 30 + 30 + MARGIN_S


def test_every_wave_may_still_start_before_ssm_gives_the_command_up() -> None:
    # one at a time on 4 instances: 3 waves wait for the ones before them
    assert start_timeout_s(300, "1", 4) == 300 + 3 * 300
    assert start_timeout_s(300, "50%", 4) == 300 + 300
    assert start_timeout_s(5, "1", 1) == 30  # one wave: the delivery wait alone
    assert start_timeout_s(300, "10", 1) == 300  # a tag selector's instances are unknown
