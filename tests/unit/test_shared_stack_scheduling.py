"""A package whose files share a package-scoped stack runs on one worker, so that stack starts
once per run; a package added with such a fixture and not declared would silently start it
once per worker that takes one of its files."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import SHARED_STACK_PACKAGES, shared_stack_scope

TESTS = Path(__file__).resolve().parents[1]
PACKAGE_FIXTURE = re.compile(r"@pytest\.fixture\(scope=\"package\"")


def test_every_package_with_a_package_scoped_fixture_is_one_unit_of_work() -> None:
    declaring = {
        f"{conftest.parent.relative_to(TESTS.parent).as_posix()}/"
        for conftest in TESTS.rglob("conftest.py")
        if PACKAGE_FIXTURE.search(conftest.read_text())
    }
    assert declaring == set(SHARED_STACK_PACKAGES)


def test_files_of_a_shared_stack_package_share_a_scope_and_others_keep_their_own() -> None:
    observed = "tests/integration/observability/"
    assert shared_stack_scope(f"{observed}test_prometheus.py::test_a") == observed
    assert shared_stack_scope(f"{observed}test_alertmanager.py::test_b[x]") == observed
    elsewhere = "tests/integration/test_pipeline.py::test_c"
    assert shared_stack_scope(elsewhere) == "tests/integration/test_pipeline.py"
