"""Which systemd units ``restart_service`` may restart (no I/O).

Only ``.service`` units: a bare name means ``<name>.service`` (as systemctl reads it), any other
unit type (``poweroff.target``, ``dbus.socket``, ``home.mount`` ...) is refused. A floor of
units that keep the machine reachable and managed (:data:`NEVER`) is refused whatever the
configuration says. When the script catalogue lists ``restartable_units`` (globs), only units
matching one of them are restarted; without that list, any other ``.service`` unit is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from functools import lru_cache

UNIT_TYPES = ("service", "socket", "target", "mount", "automount", "swap", "path", "timer",
              "slice", "scope", "device")  # fmt: skip
# Units whose restart cuts the machine off, stops its management (the SSM agent would kill the
# very command restarting it) or its audit trail, or changes the boot state; with the other
# names systemd knows some of them by (``messagebus`` is D-Bus on Red Hat-like systems).
NEVER = ("systemd-*", "ssh*", "dbus*", "messagebus*", "getty*", "serial-getty*", "autovt*",
         "user@*", "user-runtime-dir@*", "init*", "emergency*", "rescue*", "network*",
         "networkmanager*", "ifup@*", "wicked*", "ec2-instance-connect*", "amazon-ssm-agent*",
         "snap.amazon-ssm-agent*", "polkit*", "auditd*")  # fmt: skip

UNIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_.@-]{0,127}")
UNIT_GLOB = re.compile(r"[A-Za-z0-9:_.@*?-]{1,128}")
NAME_RULE = "letters, digits and : _ . @ -, starting with a letter or digit"


def full_name(name: str) -> str:
    """``name`` as systemctl reads it: with its unit type, ``.service`` when it has none."""
    _stem, dot, suffix = name.rpartition(".")
    return name if dot and suffix in UNIT_TYPES else f"{name}.service"


def _type_problem(name: str, unit: str) -> str | None:
    if unit.endswith(".service"):
        return None
    kind = unit.rpartition(".")[2]
    return f"unit {name} is not allowed: only .service units can be restarted, not .{kind} units"


@lru_cache(maxsize=1024)  # a pure function of the name, asked three times per decision
def _floor_match(unit: str) -> str | None:
    stem = unit.removesuffix(".service").lower()
    return next((pattern for pattern in NEVER if fnmatchcase(stem, pattern)), None)


def check_restartable(name: str, allowed: Sequence[str] | None) -> str:
    """The unit's full name when ``restart_service`` may restart it, else ValueError naming the
    unit and why not. ``allowed``: the configured globs, or None for any unit outside the floor."""
    if not UNIT_NAME.fullmatch(name):
        raise ValueError(f"unit {name!r} is not a systemd unit name ({NAME_RULE})")
    unit = full_name(name)
    problem = _type_problem(name, unit)
    if problem is not None:
        raise ValueError(problem)
    floor = _floor_match(unit)
    if floor is not None:
        raise ValueError(
            f"unit {name} is never restarted: it matches {floor} (units that keep the machine "
            "reachable and managed; no configuration allows them)"
        )
    if allowed is not None and not any(fnmatchcase(unit, full_name(g)) for g in allowed):
        listed = ", ".join(allowed) if allowed else "none are configured"
        raise ValueError(f"unit {unit} is not a restartable unit ({listed})")
    return unit


def check_glob(glob: str) -> str:
    """A configured ``restartable_units`` entry, or ValueError naming it and why not."""
    if not UNIT_GLOB.fullmatch(glob):
        raise ValueError(f"{glob!r} is not a unit name or glob ({NAME_RULE}, plus * and ?)")
    unit = full_name(glob)
    problem = _type_problem(glob, unit)
    if problem is not None:
        raise ValueError(problem)
    floor = _floor_match(unit)
    if floor is not None and not any(c in glob for c in "*?"):
        raise ValueError(
            f"unit {glob} matches {floor}: such units are never restarted, whatever the "
            "configuration says"
        )
    return glob
