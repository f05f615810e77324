"""Detector settings (``SCOPS_`` variables, see the README's configuration table)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import BaseServiceSettings


class DetectorSettings(BaseServiceSettings):
    detector_host: str = Field("127.0.0.1", description="Detector listen address.")
    detector_port: int = Field(8001, ge=1, le=65535, description="Detector HTTP port.")
    detector_shards: str = Field(
        "all", description="Metric shards this replica reads: 'all' or a list like '0,2'."
    )
    warmup_samples: int = Field(
        30, ge=3, description="Samples a series needs before it may raise anomalies."
    )
    baseline_window: int = Field(120, ge=10, le=10_000, description="Baseline window (samples).")
    z_threshold: float = Field(6.0, gt=0, description="Robust z-score that counts as anomalous.")

    def owned_shards(self) -> list[int]:
        if self.detector_shards.strip() == "all":
            return list(range(self.metric_shards))
        shards = sorted({int(s) for s in self.detector_shards.split(",") if s.strip()})
        bad = [s for s in shards if not 0 <= s < self.metric_shards]
        if bad:
            raise ValueError(
                f"SCOPS_DETECTOR_SHARDS names shards {bad} outside 0..{self.metric_shards - 1}"
            )
        return shards

    @property
    def http_host(self) -> str:
        return self.detector_host

    @property
    def http_port(self) -> int:
        return self.detector_port
