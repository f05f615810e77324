"""Which directories ``cleanup_disk`` may clean: plain absolute paths at or under a cleanable
root (no I/O).

A path is compared as text only in its plain normal form, so anything else (``/.``, ``//etc``,
``/etc/.``, ``/tmp/../etc``, a trailing ``/``) is refused rather than normalised: what is checked
is exactly what the command receives. The roots are an allow list (the script catalogue's
``cleanable_paths``, else :data:`DEFAULT_ROOTS`); no configuration can make ``/`` or a system
directory cleanable. Symbolic links cannot be seen from here: the cleanup command refuses, on
the instance, a directory that is a symlink or lies under one.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

DEFAULT_ROOTS = ("/tmp", "/var/tmp", "/var/log")  # noqa: S108 - directories of disposable files

# The operating system itself: never a root, nor anything inside them.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
                "/sbin", "/sys", "/usr")  # fmt: skip
# Data that is not disposable as a whole: never a root (nor any directory holding one of these),
# though an operator may list a log directory inside them.
DATA_DIRS = ("/home", "/media", "/mnt", "/opt", "/root", "/run", "/srv", "/var", "/var/lib")
# The machine's own record: the systemd journal (only ``journal_max_size``, which keeps at least
# 16M, shrinks it) and the audit log. Never cleaned, nor anything inside them; a directory
# holding one (``/var/log``) is cleaned around it (:func:`record_trees_under`).
RECORD_TREES = ("/var/log/journal", "/run/log/journal", "/var/log/audit")

MAX_LENGTH = 256
_SEGMENT = re.compile(r"[A-Za-z0-9._@+,:=-]+")
PLAIN = "give a plain absolute path such as /var/log/app"


def plain_path_problem(path: str) -> str | None:
    """Why ``path`` is not a plain, normalised absolute path, or None when it is one."""
    if not path:
        return "it is empty"
    if len(path) > MAX_LENGTH:
        return f"it is longer than {MAX_LENGTH} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "it contains a control character"
    if not path.startswith("/"):
        return "it is not absolute"
    if path == "/":
        return "it is the root file system"
    if path.endswith("/"):
        return "it ends with '/'"
    for segment in path[1:].split("/"):
        if segment == "":
            return "it has an empty segment ('//')"
        if segment in (".", ".."):
            return f"it has a {segment!r} segment"
        if not _SEGMENT.fullmatch(segment):
            return (
                f"its segment {segment!r} has characters other than letters, digits and "
                ". _ @ + , : = -"
            )
    if posixpath.normpath(path) != path:  # belt and braces: the checks above imply it
        return f"it is not in normal form ({posixpath.normpath(path)})"
    return None


def _at_or_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def record_trees_under(path: str) -> tuple[str, ...]:
    """The record trees a cleanup of ``path`` must leave alone (those at or under it)."""
    return tuple(tree for tree in RECORD_TREES if _at_or_under(tree, path))


def _system_problem(path: str) -> str | None:
    for tree in RECORD_TREES:
        if _at_or_under(path, tree):
            return f"it lies inside {tree}, the machine's own record (journal or audit log)"
    for tree in SYSTEM_TREES:
        if path != tree and _at_or_under(path, tree):
            return f"it lies inside the system directory {tree}"
    for directory in (*SYSTEM_TREES, *DATA_DIRS):
        if _at_or_under(directory, path):
            which = "is" if directory == path else "holds"
            return f"it {which} a system directory ({directory})"
    return None


def root_problem(root: str) -> str | None:
    """Why ``root`` may not be configured as a cleanable root, or None."""
    return plain_path_problem(root) or _system_problem(root)


def check_root(root: str) -> str:
    """A configured cleanable root, or ValueError naming it and why not."""
    problem = root_problem(root)
    if problem is not None:
        raise ValueError(f"{root!r} cannot be a cleanable path: {problem}")
    return root


def check_cleanable(path: str, roots: Sequence[str]) -> str:
    """``path`` when ``cleanup_disk`` may clean it, else ValueError naming it and why not."""
    problem = plain_path_problem(path)
    if problem is not None:
        raise ValueError(f"path {path!r} is refused: {problem}; {PLAIN}")
    if not any(_at_or_under(path, root) for root in roots):
        listed = ", ".join(roots) if roots else "none are configured"
        raise ValueError(f"path {path!r} is not under a cleanable root ({listed})")
    problem = _system_problem(path)
    if problem is not None:  # whatever roots were given
        raise ValueError(f"path {path!r} is refused: {problem}")
    return path
