"""Detector settings (``SCOPS_`` variables, see the README's configuration table)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from services.detector.scoring.config import DetectorConfig
from services.detector.severity import DEFAULT_HARD_LIMITS, HardLimit
from shared.aws_settings import AwsSettings
from shared.history_series import HistoryError, check_http_url

MIN_WARMUP = 3
MAX_WARMUP = 1_000_000


class DetectorSettings(AwsSettings):
    detector_host: str = Field("127.0.0.1", description="Detector listen address.")
    detector_port: int = Field(8001, ge=1, le=65535, description="Detector HTTP port.")
    detector_shards: str = Field(
        "all", description="Metric shards this replica reads: 'all' or a list like '0,2'."
    )
    warmup_samples: int = Field(
        default_factory=lambda: DetectorConfig().warmup_samples,
        description=(
            "Samples a series needs before the model may raise anomalies (at least 3; the "
            "novelty, seasonal and pattern detectors wait for 200 whatever this says)."
        ),
    )
    resolve_after_samples: int = Field(
        3,
        ge=1,
        description=(
            "Consecutive normal samples that resolve an anomaly episode, on a series sampled "
            "every alarm period (5 minutes) or less often; a faster series needs as many "
            "periods of normal samples (3: 15 minutes, 60 samples at 15 s)."
        ),
    )
    silent_after_s: float = Field(
        3600.0,
        ge=0,
        description=(
            "An open anomaly whose series has sent nothing for this long (or ten of its usual "
            "intervals, if longer) while other series kept sending is closed with a resolution "
            "saying no_data: a terminated instance or a deleted pod never sends the normal "
            "samples that would resolve it (if every series stops, nothing is closed). 0: never."
        ),
    )
    forget_after_s: float = Field(
        2_592_000.0,
        ge=0,
        description=(
            "A series that has sent nothing for this long (or ten of its usual intervals, if "
            "longer) while other series kept sending is forgotten: its state leaves memory and "
            "Redis, so the pods and instances replaced by every deploy do not pile up. One that "
            "sends again starts afresh, with a new warm-up; one with an anomaly open is kept "
            "until SCOPS_SILENT_AFTER_S closes it. 0: never (30 days by default)."
        ),
    )
    escalate_after_s: float = Field(
        900.0,
        gt=0,
        description="An anomaly is raised one severity level per period this long, up to high.",
    )
    page_min_deviation: float = Field(
        6.0,
        ge=0,
        description=(
            "A magnitude-only alarm (new extreme, spike) pages only this many typical "
            "deviations from the baseline; 0: off."
        ),
    )
    hard_limits: list[HardLimit] = Field(
        default_factory=lambda: list(DEFAULT_HARD_LIMITS),
        description="JSON list of {metric (glob), above|below, severity}: floors on severity.",
    )
    checkpoint_interval_s: float = Field(
        15.0,
        gt=0,
        description="How often changed series state is saved to Redis, and the metric entries "
        "scored before the save acknowledged (a restart replays at most this long; each save "
        "costs about 60 us per changed series; keep it well under SCOPS_CLAIM_IDLE_MS).",
    )
    model_dir: Path = Field(
        Path(".run/models"),
        description="Where trained models were kept before they moved to Redis (shared by "
        "every detector process): imported at start while Redis holds none.",
    )
    multivariate_metrics: list[str] = Field(
        default_factory=lambda: [
            "cpu_utilization",
            "memory_utilization",
            "disk_used_percent",
            "network_in_bytes",
            "network_out_bytes",
            "response_time_ms",
            "error_rate",
        ],
        description="JSON list: the metrics the multivariate model sees together per resource.",
    )
    multivariate_threshold: float = Field(
        0.999, gt=0, le=1, description="Calibrated score at which a combination is anomalous."
    )
    multivariate_cooldown_s: float = Field(
        900.0, ge=0, description="Quiet time per resource after a multivariate anomaly."
    )

    anomaly_api_workers: int = Field(
        1,
        ge=1,
        le=32,
        description=(
            "Threads scoring POST /anomaly and /anomaly/batch, off the event loop that "
            "consumes the metric streams."
        ),
    )
    anomaly_api_queue: int = Field(
        4, ge=0, le=1000, description="Scoring requests that may wait for a thread; beyond: 503."
    )
    anomaly_api_max_wait_s: float = Field(
        2.0,
        gt=0,
        le=300,
        description=(
            "A scoring request that waited this long for a thread is refused with 503 "
            "(Retry-After) rather than answered after its caller gave up."
        ),
    )
    anomaly_max_points: int = Field(
        100_000,
        ge=1,
        le=100_000,
        description="Most points scored in one POST /anomaly or /anomaly/batch (beyond: 413).",
    )

    train_sources_allowed_urls: list[str] = Field(
        default_factory=list,
        description=(
            "JSON list of URL prefixes POST /anomaly/train may read Prometheus history from, "
            'e.g. ["http://prometheus:9090/"]; empty: the prometheus source is off.'
        ),
    )
    train_source_timeout_s: float = Field(
        10.0, gt=0, le=300, description="Timeout of each request to a training history source."
    )
    train_source_deadline_s: float = Field(
        120.0, gt=0, le=3600, description="Longest a training job may spend fetching history."
    )
    train_source_max_points: int = Field(
        200_000,
        ge=1,
        le=10_000_000,
        description="Most points a training job fetches from Prometheus or CloudWatch.",
    )

    @field_validator("train_sources_allowed_urls")
    @classmethod
    def _http_prefixes(cls, value: list[str]) -> list[str]:
        try:
            return [check_http_url(url) for url in value]
        except HistoryError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("warmup_samples")
    @classmethod
    def _sensible_warmup(cls, value: int) -> int:
        if value < MIN_WARMUP:
            raise ValueError(
                f"SCOPS_WARMUP_SAMPLES={value}: a series needs at least {MIN_WARMUP} samples "
                "(a range and a baseline) before it can be judged"
            )
        if value > MAX_WARMUP:
            raise ValueError(
                f"SCOPS_WARMUP_SAMPLES={value}: more than {MAX_WARMUP} samples would keep "
                "series silent for months; use a hard limit to hold alarms back instead"
            )
        return value

    @property
    def http_host(self) -> str:
        return self.detector_host

    @property
    def http_port(self) -> int:
        return self.detector_port

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
