"""NAB benchmark entry point: run the streaming detector over one whole series.

``detect(timestamps, values)`` feeds every sample, in order, through exactly the same
:class:`SeriesDetector` the service uses (default configuration) and returns its scores.
Loadable both as a package module and as a file path (the benchmark runner imports
files by path, so the package import is set up by hand in that case).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

try:
    from .config import DetectorConfig
    from .detector import SeriesDetector
except ImportError:  # loaded by file path: no parent package
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from services.detector.scoring.config import DetectorConfig
    from services.detector.scoring.detector import SeriesDetector


def detect(
    timestamps: npt.NDArray[np.datetime64],
    values: npt.NDArray[np.float64],
    config: DetectorConfig | None = None,
) -> npt.NDArray[np.float64]:
    """Score a whole series sample by sample; returns one score in [0, 1] per row."""
    seconds = np.asarray(timestamps).astype("datetime64[s]").astype(np.int64).tolist()
    det = SeriesDetector(config)
    update = det.update
    scores = [
        update(float(t), v).score
        for t, v in zip(seconds, np.asarray(values, dtype=float).tolist(), strict=True)
    ]
    return np.asarray(scores, dtype=np.float64)
