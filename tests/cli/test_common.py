import io
import logging
import sys

from automl.cli._common import LOGGER_NAME, configure_logging


def test_log_lines_follow_a_swapped_and_closed_stderr(monkeypatch):
    """In-process runs swap stderr (tests, notebooks); a handler bound to an old, closed
    stream would print 'Logging error' tracebacks instead of the message."""
    monkeypatch.setattr("automl.cli._common.stderr_is_tty", lambda: False)
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging(debug=False)
    logging.getLogger(LOGGER_NAME).info("to the first")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger(LOGGER_NAME).info("to the second")
    assert second.getvalue() == "INFO: to the second\n"
