"""Seconds per optimizer step, so that the cost of QAT, KD or masks is visible next to fp32."""

from __future__ import annotations

import statistics
import time

import lightning as L


class StepTimer(L.Callback):
    """Times every training batch (forward, backward, optimizer step) and, at the end of the
    fit, logs the median as ``time/train_step_s`` (the first ``skip`` steps, which pay for
    warm-up allocations, are left out when there are enough steps).

    Attributes:
        seconds: the duration of every timed step.
    """

    def __init__(self, skip: int = 2, metric: str = "time/train_step_s"):
        self.skip, self.metric = skip, metric
        self.seconds: list[float] = []
        self._start: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._start is not None:
            self.seconds.append(time.perf_counter() - self._start)
            self._start = None

    def median(self) -> float | None:
        """Median seconds per step, or None before any step."""
        timed = self.seconds[self.skip :] if len(self.seconds) > 2 * self.skip else self.seconds
        return statistics.median(timed) if timed else None

    def on_train_end(self, trainer, pl_module) -> None:
        value = self.median()
        if value is not None and trainer.logger is not None and trainer.is_global_zero:
            trainer.logger.log_metrics({self.metric: value}, step=trainer.global_step)
