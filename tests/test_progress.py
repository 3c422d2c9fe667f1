"""Progress on stderr: the epoch reporter's log lines and ETA."""

import logging

from gnnimpute.progress import EpochReporter


def test_epoch_reporter_logs_state_and_stops(caplog):
    reporter = EpochReporter(100, 10, 5, interval=0.05)
    with caplog.at_level(logging.INFO, logger="gnnimpute"):
        for epoch in reporter.track(range(1, 4)):
            reporter.update(epoch, 2.0, 1.5, 1)
            import time

            time.sleep(0.12)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("epoch ") and "ETA" in line and "val 1.5" in line for line in lines)
    assert not reporter._thread.is_alive()


def test_epoch_reporter_eta_counts_patience_from_the_epoch_it_restarted():
    """With min_delta, patience runs from the last real gain, which may precede the best epoch."""
    reporter = EpochReporter(1000, 10, 5, enabled=False)
    reporter.update(30, 2.0, 1.5, 28)
    assert "stop at epoch 38 " in reporter.line()
    reporter.update(30, 2.0, 1.5, 28, patience_from=21)
    assert "stop at epoch 31 " in reporter.line()
