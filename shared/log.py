"""The project's logger: every module writes its lines through ``get_log()``; a run points it at its
``log.txt`` with ``start_log`` (stderr keeps the same lines, stdout stays free for the run path)."""
from __future__ import annotations

import errno
import logging
import sys
from pathlib import Path

LOGGER = "kaggle_templates"


class RunLogHandler(logging.FileHandler):
    """``log.txt``: a line that a full disk stops is dropped quietly (the run's own writes say so in one line)
    instead of a logging traceback on every later line."""

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)):
            super().handleError(record)


def start_log(run_dir: Path) -> logging.Logger:
    """Log to stderr and to ``log.txt`` in the run (stdout stays free for the run path)."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO)
    for h in list(logger.handlers):
        if isinstance(h, logging.FileHandler):
            logger.removeHandler(h)
            h.close()
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
               for h in logger.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(console)
    file = RunLogHandler(run_dir / "log.txt", encoding="utf-8")
    file.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger.addHandler(file)
    logger.propagate = False
    return logger


def get_log() -> logging.Logger:
    return logging.getLogger(LOGGER)


def logging_to(run_dir: Path) -> bool:
    """Whether the log already writes into this run's log.txt."""
    target = str((Path(run_dir) / "log.txt").resolve())
    return any(isinstance(h, logging.FileHandler) and h.baseFilename == target for h in get_log().handlers)
