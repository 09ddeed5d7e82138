"""Training throughput and peak memory of a fit, measured the same way for any precision."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
import time

import lightning as L
import psutil


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so RSS deltas compare."""
    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class TrainingProbe(L.Callback):
    """Samples/s over the steps after ``warmup`` and peak RSS above the RSS at fit start.

    Peak memory is sampled every ``interval`` s by a background thread (``psutil`` RSS):
    ``train/peak_mem_mb`` = max RSS during the fit - RSS when the fit starts.
    """

    def __init__(self, warmup: int = 2, interval: float = 0.005):
        self.warmup, self.interval = warmup, interval
        self.samples = 0
        self.start = None
        self.elapsed = 0.0
        self.steps = 0
        self.peak = self.base = 0
        self._stop = threading.Event()
        self._thread = None

    def _sample(self):
        proc = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, proc.memory_info().rss)
            time.sleep(self.interval)

    def on_fit_start(self, trainer, pl_module):
        release_memory()
        self.base = self.peak = psutil.Process().memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def on_fit_end(self, trainer, pl_module):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.steps >= self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.start is not None:
            self.elapsed += time.perf_counter() - self.start
            self.samples += int(batch["labels"].shape[0])
            self.start = None
        self.steps += 1

    def metrics(self, prefix: str = "train") -> dict[str, float]:
        return {
            f"{prefix}/throughput_samples_s": self.samples / self.elapsed if self.elapsed else 0.0,
            f"{prefix}/peak_mem_mb": (self.peak - self.base) / 2**20,
            f"{prefix}/timed_steps": float(max(0, self.steps - self.warmup)),
        }
