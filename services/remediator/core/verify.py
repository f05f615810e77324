"""What a rule's ``verify`` says (no I/O): which metric to watch after an action, for how long,
and what counts as improved. docs/remediation.md explains each field."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.remediator.core.durations import Duration, format_duration

SAME = "same"
_METRIC = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]*\Z")


_FOR_METRIC: dict[tuple[Verify, str], Verify] = {}
_FOR_METRIC_MAX = 1024


class Verify(BaseModel):
    """``verify: {within: 10m, metric: same, back_below: 80}`` or ``back_to_normal: true``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    within: Duration = Field(600.0, description="How long to watch after the action succeeded.")
    metric: str = Field(
        SAME, max_length=128, description="'same' (the anomaly's metric) or a metric name."
    )
    back_below: float | None = Field(
        None, description="Improved once the metric's latest samples are below this value."
    )
    back_to_normal: bool = Field(
        True,
        description=(
            "Improved once the detector resolves the anomaly (or, for the same metric, the "
            "latest samples are back in the range the detector expected). The default when "
            "back_below is not given."
        ),
    )
    samples: int = Field(
        1, ge=1, le=20, description="How many latest samples must be back (consecutive)."
    )

    @field_validator("within")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("within must be longer than 0s")
        return value

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if value != SAME and not _METRIC.match(value):
            raise ValueError(f"{value!r} is not a metric name (or 'same')")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_test(cls, data: Any) -> Any:
        if isinstance(data, dict) and "back_to_normal" not in data:
            return {**data, "back_to_normal": data.get("back_below") is None}
        return data

    @model_validator(mode="after")
    def _one_test(self) -> Verify:
        if self.back_below is not None and self.back_to_normal:
            raise ValueError("give back_below or back_to_normal, not both")
        if self.back_below is None and not self.back_to_normal:
            raise ValueError("say what counts as improved: back_below: <value> or back_to_normal")
        return self

    def for_metric(self, anomaly_metric: str) -> Verify:
        """This plan with ``metric: same`` replaced by the anomaly's metric (made once per plan
        and metric: plans are immutable, and every anomaly a rule matches asks)."""
        if self.metric != SAME:
            return self
        key = (self, anomaly_metric)
        found = _FOR_METRIC.get(key)
        if found is None:
            if len(_FOR_METRIC) >= _FOR_METRIC_MAX:
                _FOR_METRIC.clear()
            found = _FOR_METRIC[key] = self.model_copy(update={"metric": anomaly_metric})
        return found

    def describe(self) -> str:
        test = f"below {self.back_below:g}" if self.back_below is not None else "to normal"
        return f"{self.metric} back {test} within {format_duration(self.within)}"
