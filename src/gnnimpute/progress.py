"""Progress a person can follow: one log line per stage, and epoch updates every few seconds.

Everything goes to the `gnnimpute` logger (stderr in the CLI), so `--quiet` silences it.
"""

from __future__ import annotations

import logging
import os
import resource
import threading
import time
from contextlib import contextmanager

log = logging.getLogger("gnnimpute")

UPDATE_SECONDS = 5.0


def rss_bytes() -> int:
    """Resident memory of this process now (Linux /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def gib(n: float) -> str:
    return f"{n / 1024**3:.2f} GiB"


def fmt_seconds(s: float) -> str:
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


@contextmanager
def stage(name: str, enabled: bool = True):
    """Log `name`, its wall time, the RSS after it and the process peak so far."""
    start = time.perf_counter()
    yield
    if enabled:
        log.info(
            "stage %-10s %7.1f s  RSS %s  peak %s",
            name,
            time.perf_counter() - start,
            gib(rss_bytes()),
            gib(peak_rss_bytes()),
        )


class EpochReporter:
    """Logs the latest epoch state every `interval` seconds from a background thread.

    A thread, not the training loop, so a person sees time advance even while one large epoch
    runs for minutes. The ETA assumes training stops `patience` epochs after the epoch patience
    counts from (the current best unless the caller says otherwise: `min_delta`).
    """

    def __init__(
        self,
        max_epochs: int,
        patience: int,
        min_epochs: int,
        *,
        enabled: bool = True,
        interval: float = UPDATE_SECONDS,
    ):
        self.max_epochs, self.patience, self.min_epochs = max_epochs, patience, min_epochs
        self.interval = interval
        self.start = time.perf_counter()
        self.state: tuple[int, float, float, int, int] | None = None
        self.step = ""  # optional within-epoch position, e.g. a mini-batch counter
        self._stop = threading.Event()
        self._thread = None
        if enabled:
            self._thread = threading.Thread(
                target=self._run, name="gnnimpute-progress", daemon=True
            )
            self._thread.start()

    def track(self, epochs):
        """Iterate `epochs`; the reporter stops however the loop ends (break, error, Ctrl-C)."""
        try:
            yield from epochs
        finally:
            self.close()

    def update(self, epoch: int, train_loss: float, val_loss: float, best_epoch: int,
               patience_from: int | None = None) -> None:  # fmt: skip
        anchor = best_epoch if patience_from is None else patience_from
        self.state = (epoch, train_loss, val_loss, best_epoch, anchor)

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        if self.state is None:
            return f"training: epoch 1 {self.step} running, elapsed {fmt_seconds(elapsed)}".replace(
                "  ", " "
            )
        epoch, train, val, best, anchor = self.state
        stop = min(self.max_epochs, max(anchor + self.patience, self.min_epochs))
        eta = elapsed / epoch * max(0, stop - epoch)
        step = f" ({self.step})" if self.step else ""
        return (
            f"epoch {epoch}/{self.max_epochs}{step}  train {train:.4g}  val {val:.4g}  "
            f"best {best}  elapsed {fmt_seconds(elapsed)}  ETA {fmt_seconds(eta)} "
            f"(stop at epoch {stop} unless val improves)  RSS {gib(rss_bytes())}"
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            log.info("%s", self.line())

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
