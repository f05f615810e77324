"""How soon ``scops up`` starts a process again: a crash loop backs off, a process killed from
outside comes back at once however often it is killed."""

from __future__ import annotations

import signal

from scops.supervisor import RESTART_DELAYS_S, STEADY_S, restart_delay


def test_a_process_that_keeps_failing_waits_longer_each_time() -> None:
    delays, count = [], 0
    for _ in range(len(RESTART_DELAYS_S) + 2):
        delay, count = restart_delay(1, lived_s=5.0, exits_in_a_row=count)
        delays.append(delay)
    assert delays == [*RESTART_DELAYS_S, RESTART_DELAYS_S[-1], RESTART_DELAYS_S[-1]]
    # Up a minute or more: its count starts afresh.
    assert restart_delay(1, lived_s=STEADY_S, exits_in_a_row=count) == (0.0, 1)


def test_a_process_killed_after_its_start_comes_back_at_once_every_time() -> None:
    count = 0
    for _ in range(10):
        delay, count = restart_delay(-signal.SIGKILL, lived_s=3.0, exits_in_a_row=count)
        assert delay == 0.0
    assert count == 0
    # It had started: the failures before no longer count as in a row.
    assert restart_delay(-signal.SIGKILL, lived_s=3.0, exits_in_a_row=3) == (0.0, 0)


def test_a_process_killed_as_it_starts_counts_as_failing() -> None:
    """An out-of-memory kill at start up would otherwise restart it in a tight loop."""
    assert restart_delay(-signal.SIGKILL, lived_s=0.5, exits_in_a_row=2) == (
        RESTART_DELAYS_S[2],
        3,
    )
