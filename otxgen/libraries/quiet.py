"""The libraries' chatter kept off otxgen's stdout, which carries its results (a diff, a report, JSON)."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import warnings
from collections.abc import Iterator

# The libraries' own deprecation notices (``num_anchors``, ``build_loss``...): theirs, not the user's config's.
_THEIR_WARNINGS = r"(mmcv|mmdet|mmseg|mmpretrain|mmengine)\."


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """While a library builds or runs a model: what it prints goes to stderr, mmengine's logger keeps to
    errors (its handler writes to the stdout it was made with: made here, that is stderr), and the
    libraries' deprecation notices are silenced. Without mmengine (no [mm] extra) the logger is not made."""
    logger = None
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=_THEIR_WARNINGS)
        if importlib.util.find_spec("mmengine") is not None:
            import logging  # with mmengine, which imports it: a swap that builds nothing imports neither

            from mmengine.logging import MMLogger

            logger = MMLogger.get_current_instance()
            level = logger.level
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            if logger is not None:
                logger.setLevel(level)
