"""EC2 filter values that match literally (no I/O).

``DescribeInstances`` filters treat ``*`` and ``?`` in a value as wildcards, so a tag value taken
from an alert label (``Name=*``) would select every instance. AWS reads a backslash before
``*``, ``?`` or ``\\`` as "this character itself"; :func:`literal` escapes all three.
"""

from __future__ import annotations


def literal(value: str) -> str:
    """``value`` escaped so that an EC2 filter matches exactly it."""
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
