"""Children that stop on a terminal's signals, however the test run itself was started."""

from __future__ import annotations

import signal


def as_from_a_terminal() -> None:
    """A ``preexec_fn``: SIGINT and SIGHUP back to their default handling in the child. A run started in
    the background (``nohup make test &``) hands its children both ignored, and Python then installs no
    ``KeyboardInterrupt`` for SIGINT: a test that sends them would see the child run on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
