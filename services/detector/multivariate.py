"""Per-resource multivariate anomaly model: one vector of a resource's latest metrics.

The streaming per-series scorers see each metric alone; this view catches combinations that
are unusual although every metric is in its normal range (CPU high while memory, which
normally follows it, is low).

The model scores a vector twice and keeps the more surprising view:

* an IsolationForest on robust-scaled features (median / IQR), for non-linear structure;
* a linear view: each feature's *conditional* z-score - its distance from what the other
  features predict, under a Gaussian fitted to the winsorized training data - divided by its
  own 99th training percentile so heavy-tailed metrics do not drown the others.

Why both: on the synthetic resource of the tests (seven metrics, CPU and memory correlated)
the forest alone flags about 1 % of correlation breaks at a 0.99 threshold - no more than it
flags normal vectors - because its axis-parallel splits spread over seven features; and it
cannot score a value beyond the training range above the most extreme training point (its
splits never leave that range). The linear view flags both; the forest is kept for
structure a straight line cannot describe.
Each view's raw score, then their maximum, goes through the empirical CDF of the training
part, so a threshold such as 0.99 means "beyond 99 % of training vectors" for every model.

Errors: ``MultivariateError`` (a ``ValueError``) and its subclasses ``NotEnoughDataError``,
``FeatureMismatchError`` and ``ModelFormatError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    # scikit-learn takes seconds to import: a detector without a model never needs it, so it
    # is imported where a forest is built or checked.
    from sklearn.ensemble import IsolationForest

Array = npt.NDArray[np.float64]

STATE_FORMAT = 1
MIN_TRAINING_ROWS = 50
_CALIBRATION_POINTS = 2001  # quantiles kept per calibration curve (bounded file size)
_WINSOR = 10.0  # robust z clipped here before the covariance is estimated
_RIDGE = 1e-3  # added to the covariance diagonal: constant features stay invertible
_TAIL = 0.99  # per-feature percentile that normalises contributions
_VECTORS = ("center", "scale", "mean", "cond_tail", "z_tail")
_CURVES = ("curve_if", "curve_lin", "curve_max")


class MultivariateError(ValueError):
    """Base of this module's errors."""


class NotEnoughDataError(MultivariateError):
    """Too few training rows, or rows with gaps."""


class FeatureMismatchError(MultivariateError):
    """Vectors or feature names do not fit the model."""


class ModelFormatError(MultivariateError):
    """A saved state is not a model this code can rebuild."""


@dataclass(frozen=True)
class TrainingSummary:
    """How the model was trained and how it did on the held-out tail of the data."""

    n_train: int
    n_holdout: int
    threshold: float
    holdout_mean_score: float
    holdout_fraction_above: float
    n_estimators: int
    max_samples: int
    random_state: int
    contamination: str | float


def _robust_scale(x: Array) -> tuple[Array, Array]:
    """Median and scale per column: IQR/1.349, else MAD*1.4826, else std, else 1."""
    center = np.median(x, axis=0)
    q1, q3 = np.percentile(x, [25.0, 75.0], axis=0)
    mad = np.median(np.abs(x - center), axis=0) * 1.4826
    scale = (q3 - q1) / 1.349
    for fallback in (mad, x.std(axis=0), np.ones_like(center)):
        scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(center)), scale, fallback)
    return center, scale


def _curve(raw: Array) -> Array:
    return np.quantile(raw, np.linspace(0.0, 1.0, min(raw.size, _CALIBRATION_POINTS)))


def _cdf(curve: Array, raw: Array) -> Array:
    """Empirical CDF of the training scores (a quantile curve) at ``raw``, in [0, 1]."""
    return np.interp(raw, curve, np.linspace(0.0, 1.0, curve.size))


class MultivariateModel:
    """A trained model; build with :meth:`train` or :meth:`from_state`, then read-only."""

    def __init__(
        self,
        feature_names: Sequence[str],
        arrays: Mapping[str, Array],
        forest: IsolationForest,
        summary: TrainingSummary,
    ) -> None:
        self.feature_names = tuple(feature_names)
        self.summary = summary
        self._forest = forest
        self._a = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
        self._cond_sd = 1.0 / np.sqrt(np.diag(self._a["precision"]))

    @classmethod
    def train(
        cls,
        x: Array,
        feature_names: Sequence[str],
        *,
        random_state: int,
        n_estimators: int = 100,
        contamination: str | float = "auto",
        max_samples: int = 256,
        holdout_fraction: float = 0.2,
        threshold: float = 0.99,
    ) -> MultivariateModel:
        """Fit on the first rows of ``x`` (time order); measure on the last ``holdout_fraction``.

        ``x`` must be finite: rows with gaps are the caller's to drop. ``contamination`` only
        moves the forest's own ``predict`` offset, which this model does not use; it is
        accepted and recorded so that callers can state it.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(feature_names) or len(set(feature_names)) != x.shape[1]:
            raise FeatureMismatchError("x must be 2-D with one unique name per column")
        if x.shape[0] < MIN_TRAINING_ROWS or not np.isfinite(x).all():
            raise NotEnoughDataError(f"need >= {MIN_TRAINING_ROWS} finite rows")
        if not 0.0 < holdout_fraction <= 0.5:
            raise MultivariateError("holdout_fraction must be in (0, 0.5]")
        n_hold = max(1, round(x.shape[0] * holdout_fraction))
        fit, hold = x[:-n_hold], x[-n_hold:]
        center, scale = _robust_scale(fit)
        z = (fit - center) / scale
        zw = np.clip(z, -_WINSOR, _WINSOR)
        cov = np.atleast_2d(np.cov(zw, rowvar=False)) + _RIDGE * np.eye(x.shape[1])
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(
            n_estimators=n_estimators,
            max_samples=min(max_samples, fit.shape[0]),
            contamination=contamination,
            random_state=random_state,
            n_jobs=1,
        ).fit(z)
        arrays = {"center": center, "scale": scale, "mean": zw.mean(axis=0)}
        arrays["precision"] = np.linalg.inv(cov)
        summary = TrainingSummary(0, 0, threshold, math.nan, math.nan, 0, 0, 0, contamination)
        model = cls(feature_names, arrays, forest, summary)
        # The calibration curves are added in order: each one needs the previous ones.
        cond = np.abs(model._conditional_z(z))
        model._a["cond_tail"] = np.maximum(np.quantile(cond, _TAIL, axis=0), 1.0)
        model._a["z_tail"] = np.maximum(np.quantile(np.abs(z), _TAIL, axis=0), 1.0)
        model._a["curve_if"] = _curve(model._forest_raw(z))
        model._a["curve_lin"] = _curve((cond / model._a["cond_tail"]).max(axis=1))
        model._a["curve_max"] = _curve(model._combined(z))
        held = model.score_batch(hold)
        model.summary = TrainingSummary(
            n_train=int(fit.shape[0]),
            n_holdout=int(n_hold),
            threshold=threshold,
            holdout_mean_score=float(held.mean()),
            holdout_fraction_above=float(np.mean(held >= threshold)),
            n_estimators=n_estimators,
            max_samples=int(forest.max_samples_),
            random_state=random_state,
            contamination=contamination,
        )
        return model

    @property
    def metadata(self) -> dict[str, Any]:
        return {"feature_names": list(self.feature_names), **asdict(self.summary)}

    def score_batch(self, x: Array) -> Array:
        """Calibrated scores in [0, 1] for the rows of ``x`` (NaN: missing, imputed)."""
        z = self._scaled(x)
        return _cdf(self._a["curve_max"], self._combined(z))

    def explain(self, x: Array, top_k: int = 3) -> list[str]:
        return self.explain_batch(np.asarray(x, dtype=np.float64).reshape(1, -1), top_k)[0]

    def explain_batch(self, x: Array, top_k: int = 3) -> list[list[str]]:
        """Metrics that contribute most, per row, strongest first.

        A metric's contribution is the larger of its conditional |z| (squared, it is what the
        Gaussian's squared Mahalanobis distance loses if that metric alone took the value the
        others predict) and its marginal robust |z|, each in units of its own 99th training
        percentile. Named (at most ``top_k``): metrics beyond 1 and at least half the strongest;
        if none is beyond 1, the strongest alone. Missing metrics never are.
        """
        z = self._scaled(x := self._checked(x))
        contrib = np.maximum(
            np.abs(self._conditional_z(z)) / self._a["cond_tail"],
            np.abs(z) / self._a["z_tail"],
        )
        contrib[~np.isfinite(x)] = -np.inf
        names: list[list[str]] = []
        for row in contrib:
            order = [int(i) for i in np.argsort(-row, kind="stable")[:top_k]]
            floor = max(1.0, 0.5 * row[order[0]])
            chosen = [i for i in order if row[i] >= floor] or order[:1]
            names.append([self.feature_names[i] for i in chosen])
        return names

    def to_state(self) -> dict[str, Any]:
        """Plain containers, numpy arrays and the forest: what skops stores without pickle."""
        arrays = {k: v.copy() for k, v in self._a.items()}
        return {
            "format": STATE_FORMAT,
            "feature_names": list(self.feature_names),
            "arrays": arrays,
            "forest": self._forest,
            "summary": asdict(self.summary),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> MultivariateModel:
        """Rebuild from :meth:`to_state`'s output, checking every part's type and shape."""
        from sklearn.ensemble import IsolationForest

        try:
            if state["format"] != STATE_FORMAT or not isinstance(state["forest"], IsolationForest):
                raise ModelFormatError("unknown state format, or no IsolationForest")
            names = [str(n) for n in state["feature_names"]]
            arrays = {str(k): np.asarray(v, dtype=np.float64) for k, v in state["arrays"].items()}
            summary = TrainingSummary(**state["summary"])
            n_in = int(state["forest"].n_features_in_)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFormatError(f"malformed model state: {exc!r}") from exc
        d = len(names)
        shapes = {k: v.shape for k, v in arrays.items()}
        wanted = dict.fromkeys(_VECTORS, (d,)) | {"precision": (d, d)}
        bad = [k for k, shape in wanted.items() if shapes.get(k) != shape]
        bad += [k for k in _CURVES if len(shapes.get(k, ())) != 1 or not arrays[k].size]
        if bad or not all(np.isfinite(v).all() for v in arrays.values()):
            raise ModelFormatError(f"model arrays do not fit {d} features: {sorted(bad)}")
        if n_in != d or len(set(names)) != d:
            raise ModelFormatError("the forest or the feature names do not fit the arrays")
        return cls(names, arrays, state["forest"], summary)

    # -- internals ---------------------------------------------------------------------------

    def _checked(self, x: Array) -> Array:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise FeatureMismatchError(f"expected rows of {len(self.feature_names)} features")
        return x

    def _scaled(self, x: Array) -> Array:
        """Robust z of each row; a missing (non-finite) value gets its conditional mean given
        the row's other values. Not the training median: with correlated metrics the median
        stands far from what the others predict and would itself look like a correlation break.
        """
        z = (self._checked(x) - self._a["center"]) / self._a["scale"]
        missing = ~np.isfinite(z)
        if not missing.any():
            return z
        mean, precision = self._a["mean"], self._a["precision"]
        patterns, inverse = np.unique(missing, axis=0, return_inverse=True)
        for m, rows in ((m, inverse.ravel() == k) for k, m in enumerate(patterns) if m.any()):
            coef = np.linalg.solve(precision[np.ix_(m, m)], precision[np.ix_(m, ~m)])
            z[np.ix_(rows, m)] = mean[m] - (z[np.ix_(rows, ~m)] - mean[~m]) @ coef.T
        return z

    def _conditional_z(self, z: Array) -> Array:
        return ((z - self._a["mean"]) @ self._a["precision"]) * self._cond_sd

    def _forest_raw(self, z: Array) -> Array:
        return np.asarray(-self._forest.score_samples(z), dtype=np.float64)

    def _combined(self, z: Array) -> Array:
        lin = (np.abs(self._conditional_z(z)) / self._a["cond_tail"]).max(axis=1)
        p_if = _cdf(self._a["curve_if"], self._forest_raw(z))
        return np.maximum(p_if, _cdf(self._a["curve_lin"], lin))
