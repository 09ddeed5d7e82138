"""Time an ONNX model in a fresh process (ORT's spinning threads would disturb torch timing).

Usage: ``python -m nlpcompress.measure.ort_worker MODEL.onnx THREADS SEED VOCAB JOBS``, where
``JOBS`` is a JSON list of ``[batch, seq, warmup, iters]``; prints one JSON line
``{"ms": [[...], ...]}``, one list of per-call milliseconds per job, in order. One process
times every shape of one round (batch-1 latency and batch-B throughput, or each sequence
length), so the session is built once per round, not once per shape. Imports onnxruntime
and numpy only (the session comes from :mod:`nlpcompress.export.ort_session`).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from nlpcompress.export.ort_session import open_session


def synthetic_feed(
    input_names: list[str], batch: int, seq: int, seed: int, vocab: int = 30000
) -> dict:
    """Random token ids in ``[min(1000, vocab // 2), vocab)``, an all-ones mask, zero types."""
    import numpy as np

    rng = np.random.default_rng(seed)
    feed = {}
    for name in input_names:
        if "mask" in name:
            feed[name] = np.ones((batch, seq), dtype=np.int64)
        elif "type" in name:
            feed[name] = np.zeros((batch, seq), dtype=np.int64)
        else:
            low = min(1000, vocab // 2)
            feed[name] = rng.integers(low, vocab, size=(batch, seq), dtype=np.int64)
    return feed


def parse_args(argv: list[str]) -> tuple[str, int, int, int, list[list[int]]]:
    """``MODEL THREADS SEED VOCAB JOBS`` -> (path, threads, seed, vocab, jobs)."""
    path, threads, seed, vocab = argv[0], *map(int, argv[1:4])
    jobs = json.loads(argv[4])
    return path, threads, seed, vocab, jobs


def time_jobs(
    run: Callable[[dict], object],
    input_names: list[str],
    jobs: list[list[int]],
    seed: int,
    vocab: int,
) -> list[list[float]]:
    """Per job ``[batch, seq, warmup, iters]``: ``warmup`` untimed calls, then ``iters`` timed."""
    out = []
    for batch, seq, warmup, iters in jobs:
        feed = synthetic_feed(input_names, batch, seq, seed, vocab)
        for _ in range(warmup):
            run(feed)
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            run(feed)
            times.append((time.perf_counter() - start) * 1000.0)
        out.append(times)
    return out


def main(argv: list[str]) -> None:
    path, threads, seed, vocab, jobs = parse_args(argv)
    session = open_session(path, threads)
    names = [i.name for i in session.get_inputs()]
    print(json.dumps({"ms": time_jobs(lambda f: session.run(None, f), names, jobs, seed, vocab)}))


if __name__ == "__main__":
    main(sys.argv[1:])
