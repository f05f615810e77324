"""The LOCO benchmark's robustness option rounds values the way coarse metrics are."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

BENCH = Path(__file__).resolve().parents[3] / "bench" / "nab_loco.py"


def _loco() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nab_loco", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quantised_values_keep_their_shape_in_few_steps() -> None:
    values = np.linspace(0.0, 100.0, 1001)
    rounded = _loco().quantised(values, 20)
    step = float(np.percentile(values, 99) - np.percentile(values, 1)) / 20
    assert len(np.unique(rounded)) <= 23  # the tails beyond the percentiles add a step or two
    assert float(np.max(np.abs(rounded - values))) <= step / 2 + 1e-9
    assert np.all(np.diff(rounded) >= 0)  # order kept


def test_a_constant_series_is_left_as_it_is() -> None:
    flat = np.full(50, 3.0)
    assert np.array_equal(_loco().quantised(flat, 50), flat)
