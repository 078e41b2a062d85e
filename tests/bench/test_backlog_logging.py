"""The drain benchmarks measure the hub as `heima` runs it, whatever an earlier test in the same
pytest process left behind in the logging configuration (issue 13, part D4)."""

from __future__ import annotations

import logging

import pytest

from tests.bench.backlog import HUB_LOG_LEVEL, logging_as_the_hub_runs


@pytest.fixture
def root_left_at_notset():
    """The root logger as importing Kivy in its own log mode leaves it (make bench collects the
    touch app's benchmarks): NOTSET, every library's DEBUG records created and formatted."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.NOTSET)
    yield root
    root.setLevel(level)


def test_a_measured_drain_logs_what_the_hub_logs_not_what_an_earlier_test_left(root_left_at_notset):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    root_left_at_notset.addHandler(keep)
    try:
        with logging_as_the_hub_runs():
            logging.getLogger("httpcore.http11").debug("send_request_headers.started")  # as httpcore does per request
            logging.getLogger("sync.outbox").warning("outbox centre: a warning the hub logs")
        logging.getLogger("httpcore.http11").debug("after the drain")
    finally:
        root_left_at_notset.removeHandler(keep)
    assert HUB_LOG_LEVEL == logging.WARNING  # hub/cli.py without -v
    # the library's DEBUG line is not made while measured; the hub's own warning is, as ever
    # (by logger and level: the hub's quiet_http_logs may shorten httpcore's messages)
    assert [(r.name, r.levelno) for r in records] == [("sync.outbox", logging.WARNING), ("httpcore.http11", logging.DEBUG)]
    assert root_left_at_notset.level == logging.NOTSET  # put back as it was found
