"""Families of the Prometheus text exposition format: name, type, label names, samples.

Only what the deployment tests need: the ``# TYPE`` lines name every family a service
registered (a labelled metric with no children yet has a ``# TYPE`` line and no samples), and
the sample lines give the label names in use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.support.promql import series_names_of_family

_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"')
BUCKET_LABELS = frozenset({"le", "quantile"})


@dataclass
class Family:
    name: str  # as on the # TYPE line: counters end in _total
    kind: str
    labels: set[str] = field(default_factory=set)
    samples: int = 0

    def series_names(self) -> set[str]:
        return series_names_of_family(self.name, self.kind)


def parse(text: str) -> dict[str, Family]:
    """Families by name. ``x_created`` gauges that only carry another family's creation time
    (prometheus-fastapi-instrumentator exposes some) are folded into that family."""
    families: dict[str, Family] = {}
    owner: dict[str, Family] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            family = Family(name, kind)
            families[name] = family
            for series in family.series_names():
                owner.setdefault(series, family)
            continue
        if not line or line.startswith("#"):
            continue
        name = re.split(r"[{\s]", line, maxsplit=1)[0]
        family_or_none = owner.get(name)
        if family_or_none is None:
            continue
        family_or_none.samples += 1
        if "{" in line:
            inside = line[line.index("{") + 1 : line.rindex("}")]
            family_or_none.labels |= {m.group(1) for m in _LABEL.finditer(inside)} - BUCKET_LABELS
    for name in [n for n in families if n.endswith("_created")]:
        base = name.removesuffix("_created")
        if any(base in (f.name, f.name.removesuffix("_total")) for f in families.values()):
            del families[name]
    return families


def series_names(families: dict[str, Family]) -> set[str]:
    """Every series name these families give Prometheus."""
    names: set[str] = set()
    for family in families.values():
        names |= family.series_names()
    return names
