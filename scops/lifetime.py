"""Child processes that end with the process that started them.

``scops up`` starts every service in a session of its own (so Ctrl-C in the terminal reaches
only the supervisor, which stops them in order). If the supervisor itself is killed outright
(``kill -9``, the terminal closed under it), nothing would stop them: they would hold their
ports, and the next ``make up`` would refuse to start. On Linux each child asks the kernel for
SIGTERM when its parent dies, and shuts down as it would on Ctrl-C.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For ``subprocess.Popen(preexec_fn=...)``: runs in the child before it executes."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)
